package dev.reftserver.training;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.config.BaseModel;
import dev.reftserver.engine.DeviceTimeShare;
import dev.reftserver.engine.Scheduler;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.model.TransformerLM;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.tokenizer.TextTokenizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Fine-tuning files and jobs on the served base model. */
@Configuration(proxyBeanMethods = false)
public class TrainingConfiguration {

    @Bean
    TrainingFiles trainingFiles(RegistryStore store, TrainingProperties props, ChatPrompts prompts,
            TextTokenizer tokenizer, BaseModel base) {
        return new TrainingFiles(store, props, prompts, tokenizer, base.id());
    }

    /** Serving's scheduler reports its steps here; training waits here before each of its steps. */
    @Bean
    DeviceTimeShare deviceTimeShare(Scheduler scheduler, TrainingProperties props) {
        DeviceTimeShare share = new DeviceTimeShare(props.maxShare());
        scheduler.shareDeviceWith(share);
        return share;
    }

    @Bean(destroyMethod = "close")
    FineTuningJobs fineTuningJobs(TransformerLM model, TrainingFiles files,
            InterventionUploads uploads, RegistryStore store, TrainingProperties props, BundleLimits bundleLimits,
            BaseModel base, DeviceTimeShare share) {
        return new FineTuningJobs(model, files, uploads, store, props, bundleLimits, base.id(), share);
    }
}
