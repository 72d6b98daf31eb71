package dev.reftserver.api;

import dev.reftserver.intervention.BundleRejectedException;
import dev.reftserver.intervention.BundleSummary;
import dev.reftserver.intervention.ImportedBundle;
import dev.reftserver.registry.BundleValidator;
import java.util.List;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;

/**
 * What the registry's web tests add to the application: a validator that accepts any zip as a native bundle
 * (bundle validation itself is tested with the importer).
 */
@TestConfiguration(proxyBeanMethods = false)
public class RegistryTestBeans {

    public static final BundleSummary SUMMARY = new BundleSummary("loreft", List.of(2), 4, "f1+l1", false, 1);

    @Bean
    @Primary
    BundleValidator acceptingAnyZip() {
        return (zip, positions, shareWeights, promptTemplate) -> {
            if (zip.length < 4 || zip[0] != 'P' || zip[1] != 'K') {
                throw new BundleRejectedException("not_zip", "bundle is not a zip archive");
            }
            return new ImportedBundle(new BundleSummary(SUMMARY.type(), SUMMARY.layers(), SUMMARY.rank(),
                    positions != null ? positions : SUMMARY.positions(), Boolean.TRUE.equals(shareWeights), 1), zip);
        };
    }
}
