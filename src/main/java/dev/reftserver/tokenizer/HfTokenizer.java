package dev.reftserver.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Hugging Face {@code tokenizer.json} (byte-level BPE as GPT-2 and Qwen2, or sentencepiece-style BPE with byte
 * fallback as Llama and Mistral), run by the Rust {@code tokenizers} library through DJL. Special tokens are added
 * as the file's post-processor says; nothing is truncated or padded. Loaded from local files only.
 */
public final class HfTokenizer implements TextTokenizer, AutoCloseable {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HuggingFaceTokenizer tokenizer;
    private final int bosId;
    private final int[] eosIds;
    private final int vocabSize;
    /** Byte-fallback tokens ({@code <0xKK>}) of a sentencepiece-style vocabulary; empty for byte-level BPE. */
    private final BitSet byteTokens;
    /** Added tokens marked special: decode skips them. */
    private final BitSet specialTokens;
    /** The added tokens marked special, by their text. */
    private final Map<String, Integer> specialTexts;
    /** Each id's token string as the vocabulary stores it (null for an id it skips). */
    private final String[] tokenStrings;
    /** Added tokens: their string is their text, whatever the vocabulary's encoding. */
    private final BitSet addedTokens;
    /** How the vocabulary writes a token's bytes. */
    private final TokenEncoding encoding;

    /** How a vocabulary's token strings stand for bytes, from the tokenizer's decoder. */
    enum TokenEncoding {
        /** GPT-2's byte-level alphabet: each character is one byte. */
        BYTE_LEVEL,
        /** Sentencepiece's: '▁' is a space, {@code <0xKK>} a byte, the rest UTF-8. */
        METASPACE,
        /** The string is the text. */
        PLAIN;

        static TokenEncoding of(JsonNode decoder) {
            List<String> types = new ArrayList<>();
            collectTypes(decoder, types);
            if (types.contains("ByteLevel")) {
                return BYTE_LEVEL;
            }
            return types.contains("Metaspace") || types.contains("ByteFallback") || types.contains("Replace")
                    ? METASPACE : PLAIN;
        }

        private static void collectTypes(JsonNode decoder, List<String> out) {
            if (decoder.path("type").isString()) {
                out.add(decoder.path("type").asString());
            }
            for (JsonNode d : decoder.path("decoders").values()) {
                collectTypes(d, out);
            }
        }
    }

    private HfTokenizer(HuggingFaceTokenizer tokenizer, int bosId, int[] eosIds, int vocabSize, BitSet byteTokens,
                        BitSet specialTokens, Map<String, Integer> specialTexts, Map<String, Integer> tokenIds,
                        BitSet addedTokens, TokenEncoding encoding) {
        this.specialTexts = Map.copyOf(specialTexts);
        this.tokenStrings = new String[vocabSize];
        tokenIds.forEach((token, id) -> {
            if (id >= 0 && id < vocabSize) {
                tokenStrings[id] = token;
            }
        });
        this.addedTokens = addedTokens;
        this.encoding = encoding;
        this.tokenizer = tokenizer;
        this.bosId = bosId;
        this.eosIds = eosIds;
        this.vocabSize = vocabSize;
        this.byteTokens = byteTokens;
        this.specialTokens = specialTokens;
    }

    /**
     * Loads {@code tokenizer.json} from a model directory. The BOS id comes from {@code config.json}'s
     * {@code bos_token_id}, else {@code generation_config.json}'s; the EOS ids (an id or a list) from
     * {@code generation_config.json}'s {@code eos_token_id}, as transformers' {@code generate} takes them, else
     * {@code config.json}'s; either, lacking those, from the token strings of {@code tokenizer_config.json}.
     */
    public static HfTokenizer load(Path modelDir) {
        Path file = modelDir.resolve("tokenizer.json");
        byte[] json = readFile(file);
        JsonNode root = parse(file, json);
        JsonNode model = root.path("model");
        if (!model.path("vocab").isObject() && !model.path("vocab").isArray()) {
            throw new TokenizerLoadException("not a Hugging Face tokenizer.json (no model.vocab): " + file);
        }
        Map<String, Integer> tokenIds = tokenIds(model.path("vocab"), root.path("added_tokens"));
        int vocabSize = tokenIds.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        BitSet byteTokens = new BitSet();
        if (model.path("byte_fallback").asBoolean(false)) {
            tokenIds.forEach((token, id) -> {
                if (token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
                    byteTokens.set(id);
                }
            });
        }
        BitSet specialTokens = new BitSet();
        BitSet addedTokens = new BitSet();
        Map<String, Integer> specialTexts = new HashMap<>();
        for (JsonNode added : root.path("added_tokens").values()) {
            addedTokens.set(added.path("id").asInt());
            if (added.path("special").asBoolean(false)) {
                specialTokens.set(added.path("id").asInt());
                specialTexts.put(added.path("content").asString(""), added.path("id").asInt());
            }
        }

        JsonNode config = readOptionalJson(modelDir.resolve("config.json"));
        JsonNode generation = readOptionalJson(modelDir.resolve("generation_config.json"));
        JsonNode tokenizerConfig = readOptionalJson(modelDir.resolve("tokenizer_config.json"));
        int[] bos = specialIds(config, generation, tokenizerConfig, "bos", tokenIds);
        int[] eos = specialIds(config, generation, tokenizerConfig, "eos", tokenIds);

        HuggingFaceTokenizer tokenizer;
        try {
            // DJL truncates to 512 tokens and pads unless told otherwise; a prompt must reach the model whole.
            tokenizer = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), Map.of(
                    "addSpecialTokens", "true",
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new TokenizerLoadException("the tokenizers library rejected " + file + ": " + e.getMessage(), e);
        }
        return new HfTokenizer(tokenizer, bos.length > 0 ? bos[0] : -1, eos, vocabSize, byteTokens, specialTokens,
                specialTexts, tokenIds, addedTokens, TokenEncoding.of(root.path("decoder")));
    }

    private static byte[] readFile(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerLoadException("tokenizer file not found: " + file, e);
        } catch (IOException e) {
            throw new TokenizerLoadException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode parse(Path file, byte[] json) {
        try {
            return JSON.readTree(json);
        } catch (JacksonException e) {
            throw new TokenizerLoadException("not valid JSON: " + file + ": " + e.getOriginalMessage(), e);
        }
    }

    private static JsonNode readOptionalJson(Path file) {
        return Files.isRegularFile(file) ? parse(file, readFile(file)) : JSON.missingNode();
    }

    /** Token string to id: the model's vocabulary (a map for BPE, a list for Unigram) and the added tokens. */
    private static Map<String, Integer> tokenIds(JsonNode vocab, JsonNode addedTokens) {
        Map<String, Integer> ids = new HashMap<>();
        if (vocab.isObject()) {
            vocab.properties().forEach(e -> ids.put(e.getKey(), e.getValue().asInt()));
        } else {
            int id = 0;
            for (JsonNode entry : vocab.values()) {
                ids.put(entry.path(0).asString(""), id++);
            }
        }
        for (JsonNode added : addedTokens.values()) {
            ids.put(added.path("content").asString(""), added.path("id").asInt());
        }
        return ids;
    }

    private static int[] specialIds(JsonNode config, JsonNode generation, JsonNode tokenizerConfig, String kind,
                                    Map<String, Integer> tokenIds) {
        String idField = kind + "_token_id";
        // generate() stops at generation_config.json's EOS ids, which list more than config.json's in released chat
        // models (Gemma 2's [1, 107] with <end_of_turn>, Qwen2.5's [151645, 151643]); a multimodal config may keep
        // them in text_config.
        JsonNode[] sources = kind.equals("eos")
                ? new JsonNode[] {generation, config, config.path("text_config")}
                : new JsonNode[] {config, generation, config.path("text_config")};
        for (JsonNode source : sources) {
            int[] ids = idList(source.path(idField));
            if (ids.length > 0) {
                return ids;
            }
        }
        JsonNode token = tokenizerConfig.path(kind + "_token");
        String content = token.isObject() ? token.path("content").asString(null) : token.asString(null);
        return Optional.ofNullable(content).map(tokenIds::get).map(id -> new int[] {id}).orElse(new int[0]);
    }

    private static int[] idList(JsonNode node) {
        if (node.isIntegralNumber()) {
            return new int[] {node.asInt()};
        }
        if (node.isArray()) {
            return node.values().stream().filter(JsonNode::isIntegralNumber).mapToInt(JsonNode::asInt).toArray();
        }
        return new int[0];
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** The tokenizers library matches added tokens in the text itself; no post-processor BOS. */
    @Override
    public int[] encodeRendered(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return specialTexts;
    }

    /** HF's {@code decode(ids, skip_special_tokens=True)}. */
    @Override
    public String decode(int[] ids) {
        long[] longIds = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " is outside the vocabulary [0, "
                        + vocabSize + ")");
            }
            longIds[i] = ids[i];
        }
        return tokenizer.decode(longIds, true);
    }

    @Override
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= vocabSize) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
        String token = tokenStrings[id];
        if (token == null || specialTokens.get(id)) {
            return new byte[0];
        }
        if (addedTokens.get(id)) {
            return token.getBytes(StandardCharsets.UTF_8);
        }
        return switch (encoding) {
            case BYTE_LEVEL -> ByteLevel.bytes(token);
            case METASPACE -> byteTokens.get(id) ? new byte[] {(byte) Integer.parseInt(token.substring(3, 5), 16)}
                    : token.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
            case PLAIN -> token.getBytes(StandardCharsets.UTF_8);
        };
    }

    @Override
    public StreamDecoder newStreamDecoder() {
        return newStreamDecoder(new int[0]);
    }

    @Override
    public StreamDecoder newStreamDecoder(int[] contextIds) {
        return new WindowStreamDecoder(this::decode, byteTokens::get, specialTokens::get, contextIds);
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosIds.length > 0 ? eosIds[0] : -1;
    }

    @Override
    public int[] eosIds() {
        return Arrays.copyOf(eosIds, eosIds.length);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    /** Frees the native tokenizer. */
    @Override
    public void close() {
        tokenizer.close();
    }
}
