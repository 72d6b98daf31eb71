package dev.reftserver.config;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * {@code reft.model.*}: which base model to load and where.
 *
 * @param path    HF model dir or llama2.c {@code .bin} (tokenizer.bin beside it)
 * @param device  {@code cpu}, {@code gpu} or {@code gpu:N}
 * @param dtype   {@code float32}, {@code bfloat16} (Llama family: bf16 weights and KV cache, fp32 activations),
 *                {@code auto} (the checkpoint's dtype where the device computes it well, {@code AutoDtype}), or
 *                {@code float16} on a GPU
 * @param id      the model id clients name in {@code model}; defaults to the checkpoint's file or directory name
 * @param threads on a CPU, the cores one forward step is split across (0, the default: every available core);
 *                ignored on a GPU
 * @param chatTemplate a Jinja chat template file for {@code /v1/chat/completions}; overrides the model's own
 *                (from {@code chat_template.jinja}, else {@code tokenizer_config.json}); a llama2.c checkpoint has
 *                none unless this is set
 * @param kvCacheDtype the KV cache's dtype: {@code auto} (bfloat16 with bfloat16 weights, as transformers and vLLM
 *                keep it; otherwise the activations'), {@code float32} (with float32 activations: attention computed
 *                in float32 also over bfloat16 weights) or {@code bfloat16} (bfloat16 weights only)
 */
@ConfigurationProperties("reft.model")
public record ModelProperties(
        @DefaultValue("models/stories15M/stories15M.bin") String path,
        @DefaultValue("cpu") String device,
        @DefaultValue("float32") String dtype,
        String id,
        @DefaultValue("0") int threads,
        String chatTemplate,
        @DefaultValue("auto") String kvCacheDtype) {
}
