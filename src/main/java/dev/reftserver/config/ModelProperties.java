package dev.reftserver.config;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code reft.model.*}: which base model to load and where.
 *
 * @param path    HF model dir or llama2.c {@code .bin} (tokenizer.bin beside it)
 * @param device  {@code cpu}, {@code gpu} or {@code gpu:N}
 * @param dtype   {@code float32}, {@code bfloat16} (Llama family: bf16 weights, fp32 activations), {@code auto}
 *                (float32 on a CPU, float16 on a GPU), or {@code float16} on a GPU
 * @param id      the model id clients name in {@code model}; defaults to the checkpoint's file or directory name
 * @param threads on a CPU, the cores one forward step is split across (0, the default: every available core);
 *                ignored on a GPU
 * @param chatTemplate a Jinja chat template file for {@code /v1/chat/completions}; overrides the model's own
 *                (from {@code chat_template.jinja}, else {@code tokenizer_config.json}); a llama2.c checkpoint has
 *                none unless this is set
 */
@ConfigurationProperties("reft.model")
public record ModelProperties(
        @DefaultValue("models/stories15M/stories15M.bin") String path,
        @DefaultValue("cpu") String device,
        @DefaultValue("float32") String dtype,
        String id,
        @DefaultValue("0") int threads,
        String chatTemplate) {
}
