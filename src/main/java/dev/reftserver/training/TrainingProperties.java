package dev.reftserver.training;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Limits on fine-tuning ({@code reft.training.*}).
 *
 * @param maxFileBytes   largest training file
 * @param maxExamples    most lines (examples) in one file
 * @param maxFiles       most files one tenant keeps
 * @param maxSteps       most updates one job may ask for
 * @param maxQueuedJobs  most jobs of one tenant waiting or running at once (more get 429)
 * @param maxTotalQueuedJobs most jobs of all tenants this server has waiting or running at once (more get 429)
 * @param maxShare       the fraction of engine time training may take while serving is busy; all of it when idle
 * @param maxStepMemory  memory one training update may take, a size ({@code 4GB}) or a fraction of physical memory
 *                       ({@code 0.25}); a job whose largest batch would need more is refused
 *                       ({@link TrainingMemory})
 * @param jobLease       how long a job's server may stay silent before another server sharing the store takes the
 *                       job over (its server died); each server marks its jobs alive every quarter of this
 */
@ConfigurationProperties("reft.training")
public record TrainingProperties(
        @DefaultValue("16MB") DataSize maxFileBytes,
        @DefaultValue("10000") int maxExamples,
        @DefaultValue("100") int maxFiles,
        @DefaultValue("10000") int maxSteps,
        @DefaultValue("4") int maxQueuedJobs,
        @DefaultValue("64") int maxTotalQueuedJobs,
        @DefaultValue("0.25") double maxShare,
        @DefaultValue("0.25") String maxStepMemory,
        @DefaultValue("60s") Duration jobLease) {

    public TrainingProperties {
        if (jobLease.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("reft.training.job-lease must be at least 1s, not " + jobLease);
        }
    }
}
