package dev.reftserver.config;

import dev.reftserver.engine.EngineMetrics;
import dev.reftserver.engine.EngineSettings;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.intervention.BundleImporter;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.EditNormListener;
import dev.reftserver.model.CausalLM;
import dev.reftserver.model.ModelShape;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.model.ModelLoader;
import dev.reftserver.registry.RegistryProperties;
import dev.reftserver.tokenizer.TextTokenizer;
import dev.reftserver.tokenizer.TokenizerLoader;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Loads the base model and its tokenizer, and starts the engine that owns them. */
@Configuration(proxyBeanMethods = false)
public class EngineConfiguration {

    private static final Logger log = LoggerFactory.getLogger(EngineConfiguration.class);

    @Bean(destroyMethod = "close")
    TransformerLM baseModel(ModelProperties props) {
        long t0 = System.nanoTime();
        TransformerLM model = ModelLoader.load(Path.of(props.path()), props.device(), props.dtype(),
                props.threads());
        try {
            model.useCacheDtype(props.kvCacheDtype());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        log.info("loaded {} ({} layers, hidden {}, vocab {}) on {} ({} threads per step) in {} ms", props.path(),
                model.config().numLayers(), model.config().hiddenSize(), model.config().vocabSize(), model.device(),
                model.threads(), (System.nanoTime() - t0) / 1_000_000);
        return model;
    }

    @Bean
    TextTokenizer tokenizer(ModelProperties props) {
        return TokenizerLoader.load(Path.of(props.path()));
    }

    @Bean
    BaseModel baseModelInfo(ModelProperties props, TransformerLM model) {
        String id = props.id();
        if (id == null || id.isBlank()) {
            Path p = Path.of(props.path()).toAbsolutePath().normalize();
            String name = p.getFileName().toString();
            id = Files.isDirectory(p) || !name.contains(".") ? name : name.substring(0, name.lastIndexOf('.'));
        }
        return new BaseModel(id, model.config(), System.currentTimeMillis() / 1000);
    }

    @Bean
    ModelShape modelShape(TransformerLM model) {
        return model.config().shape();
    }

    /**
     * The one set of bundle limits, for uploads and for loading stored bundles alike, so every accepted bundle
     * serves; it follows the multipart limit ({@code reft.registry.max-upload-bytes}).
     */
    @Bean
    BundleLimits bundleLimits(RegistryProperties registry) {
        return BundleLimits.forMaxUpload(registry.maxUploadBytes().toBytes());
    }

    @Bean
    BundleImporter bundleImporter(BundleLimits limits) {
        return new BundleImporter(limits);
    }

    @Bean
    EngineMetrics engineMetrics(MeterRegistry registry, TenantTagPolicy tenants) {
        return new EngineMetrics(registry, tenants);
    }

    @Bean
    TenantTagPolicy tenantTagPolicy() {
        return new TenantTagPolicy(20);
    }

    /**
     * Histogram of ||h' - h|| / ||h|| per intervention type: how hard each type pushes the residual stream. Called
     * per edited position on the engine thread, so each type's summary is registered once and kept.
     */
    @Bean
    EditNormListener editNormListener(MeterRegistry registry) {
        Map<String, DistributionSummary> byType = new ConcurrentHashMap<>();
        return (type, layer, relativeNorm) -> byType.computeIfAbsent(type, t ->
                DistributionSummary.builder("reft.intervention.edit.relative.norm")
                        .description("Relative norm of intervention edits ||h' - h|| / ||h||")
                        .tag("type", t)
                        .serviceLevelObjectives(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5)
                        .register(registry))
                .record(relativeNorm);
    }

    /** Runs whichever {@link CausalLM} the context holds: the base model, or a test's wrapper around it. */
    @Bean(destroyMethod = "close")
    Scheduler scheduler(CausalLM model, TextTokenizer tokenizer, EngineProperties props, EngineMetrics metrics,
            EditNormListener editNorms) {
        KvCacheBudget budget = KvCacheBudget.resolve(props.kvCacheMemory(), props.maxContext(), model.config(),
                model.cacheElementBytes(), KvCacheBudget.physicalMemory());
        EngineSettings settings = new EngineSettings(props.maxBatchSize(), props.maxQueue(), budget.tokens(),
                budget.maxContext(), props.requestTimeout(), props.shutdownGrace(), props.stallTimeout(),
                props.mixedSteps());
        return new Scheduler(model, tokenizer, settings, metrics, editNorms);
    }
}
