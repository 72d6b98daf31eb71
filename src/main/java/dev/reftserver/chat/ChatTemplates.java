package dev.reftserver.chat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Finds a model's chat template where transformers looks for it, or the file the server is told to use instead. */
public final class ChatTemplates {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private ChatTemplates() {
    }

    /**
     * @param modelPath    a Hugging Face model directory, or a llama2.c checkpoint (which has no template)
     * @param overrideFile a template file that replaces the model's own; null or blank for none
     * @return the template's source: the override; else {@code chat_template.jinja} in the model directory (which
     *         transformers' tokenizer loading prefers to the config's); else {@code tokenizer_config.json}'s
     *         {@code chat_template} (a string, or a list of {@code {name, template}} of which the one named
     *         {@code default}); empty when there is none
     * @throws IllegalStateException when a file is named or present but cannot be read or parsed
     */
    public static Optional<String> find(Path modelPath, String overrideFile) {
        if (overrideFile != null && !overrideFile.isBlank()) {
            return Optional.of(read(Path.of(overrideFile)));
        }
        if (!Files.isDirectory(modelPath)) {
            return Optional.empty();
        }
        Path jinja = modelPath.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            return Optional.of(read(jinja));
        }
        Path config = modelPath.resolve("tokenizer_config.json");
        if (Files.isRegularFile(config)) {
            JsonNode template;
            try {
                template = JSON.readTree(read(config)).path("chat_template");
            } catch (JacksonException e) {
                throw new IllegalStateException("cannot parse " + config + ": " + e.getOriginalMessage(), e);
            }
            if (template.isString()) {
                return Optional.of(template.asString());
            }
            if (template.isArray()) {
                for (JsonNode named : template) {
                    if ("default".equals(named.path("name").asString(null)) && named.path("template").isString()) {
                        return Optional.of(named.path("template").asString());
                    }
                }
            }
        }
        return Optional.empty();
    }

    /**
     * The special tokens' texts a Hugging Face model directory's {@code tokenizer_config.json} names
     * ({@code bos_token}, {@code eos_token}, {@code unk_token}, {@code pad_token}, as a string or an added-token
     * object), which transformers passes to chat templates under those names; empty for anything else.
     */
    public static Map<String, String> specialTokenTexts(Path modelPath) {
        Path config = modelPath.resolve("tokenizer_config.json");
        Map<String, String> out = new LinkedHashMap<>();
        if (!Files.isDirectory(modelPath) || !Files.isRegularFile(config)) {
            return out;
        }
        JsonNode root;
        try {
            root = JSON.readTree(read(config));
        } catch (JacksonException e) {
            throw new IllegalStateException("cannot parse " + config + ": " + e.getOriginalMessage(), e);
        }
        for (String name : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            JsonNode token = root.path(name);
            String text = token.isString() ? token.asString() : token.path("content").asString(null);
            if (text != null) {
                out.put(name, text);
            }
        }
        return out;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read chat template " + file + ": " + e.getMessage(), e);
        }
    }
}
