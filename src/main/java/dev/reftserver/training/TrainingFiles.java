package dev.reftserver.training;

import dev.reftserver.error.ServiceException;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.StoredFile;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Tenants' fine-tuning files, kept in the registry store with their bytes as uploaded. Every line is checked on
 * upload: a JSON object with string {@code prompt} and non-empty string {@code completion}; the first bad line is
 * named. Parsed examples are cached in memory per file id (files are never modified).
 */
public final class TrainingFiles {

    public static final String PURPOSE = "fine-tune";

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final SecureRandom IDS = new SecureRandom();

    private final RegistryStore store;
    private final TrainingProperties limits;
    private final Map<String, List<String[]>> parsed = new ConcurrentHashMap<>();

    public TrainingFiles(RegistryStore store, TrainingProperties limits) {
        this.store = store;
        this.limits = limits;
    }

    /** @throws ServiceException 400 for a wrong purpose, an empty, oversized or malformed file */
    public TrainingFile upload(String tenant, String filename, String purpose, byte[] content) {
        if (!PURPOSE.equals(purpose)) {
            throw ServiceException.invalidRequest("purpose", "purpose must be '" + PURPOSE + "', not '" + purpose
                    + "'");
        }
        if (content.length > limits.maxFileBytes().toBytes()) {
            throw ServiceException.invalidRequest("file", "file has " + content.length + " bytes, more than the "
                    + limits.maxFileBytes().toBytes() + " allowed");
        }
        List<String[]> examples = parse(content);
        if (store.files(tenant).size() >= limits.maxFiles()) {
            throw ServiceException.invalidRequest("file", "this tenant already has " + limits.maxFiles()
                    + " files; delete some first");
        }
        String id = "file-" + HexFormat.of().formatHex(randomBytes());
        StoredFile stored = store.addFile(new StoredFile(id, tenant, filename == null ? "data.jsonl" : filename,
                purpose, content.length, Instant.now().truncatedTo(ChronoUnit.MILLIS)), content);
        parsed.put(id, examples);
        return of(stored, examples);
    }

    private List<String[]> parse(byte[] content) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(content)).toString();
        } catch (CharacterCodingException e) {
            throw ServiceException.invalidRequest("file", "file is not UTF-8 text");
        }
        List<String[]> examples = new ArrayList<>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isBlank()) {
                continue;
            }
            int number = i + 1;
            if (examples.size() >= limits.maxExamples()) {
                throw ServiceException.invalidRequest("file", "more than " + limits.maxExamples()
                        + " examples (line " + number + ")");
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JacksonException e) {
                throw badLine(number, "is not valid JSON (" + e.getOriginalMessage() + ")");
            }
            if (node == null || !node.isObject()) {
                throw badLine(number, "is not a JSON object");
            }
            JsonNode prompt = node.get("prompt");
            JsonNode completion = node.get("completion");
            if (prompt == null || !prompt.isString()) {
                throw badLine(number, "needs a string \"prompt\"");
            }
            if (completion == null || !completion.isString() || completion.stringValue().isEmpty()) {
                throw badLine(number, "needs a non-empty string \"completion\"");
            }
            examples.add(new String[] {prompt.stringValue(), completion.stringValue()});
        }
        if (examples.isEmpty()) {
            throw ServiceException.invalidRequest("file", "file has no examples (JSONL lines of"
                    + " {\"prompt\": ..., \"completion\": ...})");
        }
        return examples;
    }

    private static ServiceException badLine(int number, String what) {
        return ServiceException.invalidRequest("file", "line " + number + " " + what);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }

    private static TrainingFile of(StoredFile f, List<String[]> examples) {
        return new TrainingFile(f.id(), f.tenant(), f.filename(), f.purpose(), f.bytes(), f.createdAt(), examples);
    }

    private Optional<TrainingFile> load(StoredFile f) {
        List<String[]> examples = parsed.get(f.id());
        if (examples == null) {
            Optional<byte[]> content = store.fileContent(f.tenant(), f.id());
            if (content.isEmpty()) {
                return Optional.empty(); // deleted meanwhile
            }
            examples = parse(content.get());
            parsed.put(f.id(), examples);
        }
        return Optional.of(of(f, examples));
    }

    /** The tenant's file; another tenant's id is as unknown as one that never existed. */
    public Optional<TrainingFile> get(String tenant, String id) {
        return id == null ? Optional.empty() : store.file(tenant, id).flatMap(this::load);
    }

    /** The tenant's files, newest first. */
    public List<TrainingFile> list(String tenant) {
        return store.files(tenant).stream().map(this::load).flatMap(Optional::stream).toList();
    }

    public boolean delete(String tenant, String id) {
        boolean deleted = store.deleteFile(tenant, id);
        if (deleted) {
            parsed.remove(id);
        }
        return deleted;
    }
}
