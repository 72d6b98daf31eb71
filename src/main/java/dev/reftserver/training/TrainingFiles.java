package dev.reftserver.training;

import dev.reftserver.chat.ChatPrompts;
import dev.reftserver.chat.ChatTemplateException;
import dev.reftserver.error.ServiceException;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.StoredFile;
import dev.reftserver.tokenizer.TextTokenizer;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.springframework.http.HttpStatus;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Tenants' fine-tuning files, kept in the registry store with their bytes as uploaded. Every line is checked on
 * upload: a JSON object with string {@code prompt} and non-empty string {@code completion}, or (OpenAI's chat
 * format) {@code messages}, a conversation of {@code system}, {@code user} and {@code assistant} messages with
 * string content that ends with the assistant's, which the model's chat template must render; the first bad line is
 * named. Parsed examples are cached in memory per file id (files are never modified). Chat lines are rendered again
 * when a job starts, with the template the server has then.
 */
public final class TrainingFiles {

    public static final String PURPOSE = "fine-tune";

    /** The purpose of a job's results file, a CSV of its metrics per update, as OpenAI names it. */
    public static final String RESULTS_PURPOSE = "fine-tune-results";

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final SecureRandom IDS = new SecureRandom();

    private static final Set<String> ROLES = Set.of("system", "user", "assistant");
    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "name");

    private final RegistryStore store;
    private final TrainingProperties limits;
    private final ChatPrompts prompts;
    private final TextTokenizer tokenizer;
    private final String baseModel;
    private final Map<String, List<TrainingFile.Example>> parsed = new ConcurrentHashMap<>();

    /**
     * @param prompts   renders chat lines with the base model's chat template
     * @param tokenizer the base model's tokenizer
     * @param baseModel the base model's id, for errors
     */
    public TrainingFiles(RegistryStore store, TrainingProperties limits, ChatPrompts prompts, TextTokenizer tokenizer,
            String baseModel) {
        this.store = store;
        this.limits = limits;
        this.prompts = prompts;
        this.tokenizer = tokenizer;
        this.baseModel = baseModel;
    }

    /**
     * @throws ServiceException 400 for a wrong purpose, an empty, oversized or malformed file, or a chat line the
     *                          model's chat template cannot render (or the model has none: {@code no_chat_template})
     */
    public TrainingFile upload(String tenant, String filename, String purpose, byte[] content) {
        return upload(tenant, filename, purpose, content, null);
    }

    /**
     * {@link #upload(String, String, String, byte[])} of a file that stops existing {@code expiresAfter} after it
     * was uploaded (null: kept until deleted).
     */
    public TrainingFile upload(String tenant, String filename, String purpose, byte[] content,
            Duration expiresAfter) {
        if (!PURPOSE.equals(purpose)) {
            throw ServiceException.invalidRequest("purpose", "purpose must be '" + PURPOSE + "', not '" + purpose
                    + "'");
        }
        if (content.length > limits.maxFileBytes().toBytes()) {
            throw ServiceException.invalidRequest("file", "file has " + content.length + " bytes, more than the "
                    + limits.maxFileBytes().toBytes() + " allowed");
        }
        List<TrainingFile.Example> examples = parse(content);
        for (TrainingFile.Example e : examples) {
            if (e instanceof TrainingFile.Chat chat) {
                render(chat, "file", "");
            }
        }
        if (store.files(tenant).stream().filter(f -> PURPOSE.equals(f.purpose())).count() >= limits.maxFiles()) {
            throw ServiceException.invalidRequest("file", "this tenant already has " + limits.maxFiles()
                    + " files; delete some first");
        }
        String id = "file-" + HexFormat.of().formatHex(randomBytes());
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        StoredFile stored = store.addFile(new StoredFile(id, tenant, filename == null ? "data.jsonl" : filename,
                purpose, content.length, now, expiresAfter == null ? null : now.plus(expiresAfter)), content);
        parsed.put(id, examples);
        return of(stored, examples);
    }

    private List<TrainingFile.Example> parse(byte[] content) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(content)).toString();
        } catch (CharacterCodingException e) {
            throw ServiceException.invalidRequest("file", "file is not UTF-8 text");
        }
        List<TrainingFile.Example> examples = new ArrayList<>();
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
            examples.add(node.has("messages") ? chat(node, number) : completion(node, number));
        }
        if (examples.isEmpty()) {
            throw ServiceException.invalidRequest("file", "file has no examples (JSONL lines of"
                    + " {\"prompt\": ..., \"completion\": ...} or {\"messages\": [...]})");
        }
        return examples;
    }

    private static TrainingFile.Completion completion(JsonNode node, int number) {
        JsonNode prompt = node.get("prompt");
        JsonNode completion = node.get("completion");
        if (prompt == null || !prompt.isString()) {
            throw badLine(number, "needs a string \"prompt\"");
        }
        if (completion == null || !completion.isString() || completion.stringValue().isEmpty()) {
            throw badLine(number, "needs a non-empty string \"completion\"");
        }
        return new TrainingFile.Completion(number, prompt.stringValue(), completion.stringValue());
    }

    /** The conversation before the last message is the prompt; the last, the assistant's, is the completion. */
    private static TrainingFile.Chat chat(JsonNode node, int number) {
        if (node.has("prompt") || node.has("completion")) {
            throw badLine(number, "has both \"messages\" and \"prompt\"/\"completion\"; give one or the other");
        }
        JsonNode messages = node.get("messages");
        if (!messages.isArray() || messages.size() < 2) {
            throw badLine(number, "needs \"messages\", an array of at least two {\"role\", \"content\"} objects,"
                    + " the last the assistant's");
        }
        List<Map<String, Object>> conversation = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw badLine(number, where + " is not a JSON object");
            }
            for (String f : m.propertyNames()) {
                if (!MESSAGE_FIELDS.contains(f)) {
                    throw badLine(number, where + "." + f + " is not supported (only role, content, name)");
                }
            }
            JsonNode role = m.path("role");
            if (!role.isString() || !ROLES.contains(role.stringValue())) {
                throw badLine(number, where + ".role must be system, user or assistant");
            }
            if (!m.path("content").isString()) {
                throw badLine(number, where + ".content must be a string");
            }
            if (m.has("name") && !m.get("name").isString()) {
                throw badLine(number, where + ".name must be a string");
            }
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", role.stringValue());
            message.put("content", m.get("content").stringValue());
            if (m.has("name")) {
                message.put("name", m.get("name").stringValue());
            }
            conversation.add(Collections.unmodifiableMap(message));
        }
        Map<String, Object> last = conversation.remove(conversation.size() - 1);
        if (!"assistant".equals(last.get("role"))) {
            throw badLine(number, "must end with an assistant message (the completion to learn), not a "
                    + last.get("role") + " message");
        }
        String completion = (String) last.get("content");
        if (completion.isEmpty()) {
            throw badLine(number, "ends with an empty assistant message; it is the completion to learn");
        }
        return new TrainingFile.Chat(number, conversation, completion);
    }

    /**
     * A chat line's prompt, rendered with the model's chat template and the generation prompt.
     *
     * @param param  the request field errors name
     * @param prefix what errors say before the line
     * @throws ServiceException 400 when the model has no chat template or the template rejects the conversation
     */
    private ChatPrompts.Prompt render(TrainingFile.Chat chat, String param, String prefix) {
        String line = prefix + "line " + chat.line();
        if (!prompts.hasTemplate()) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", param, "no_chat_template",
                    line + " is a chat example, but the model " + baseModel + " has no chat template: set"
                            + " reft.model.chat-template to a template file, or use {\"prompt\", \"completion\"}"
                            + " lines");
        }
        try {
            return prompts.render(chat.messages(), true);
        } catch (ChatTemplateException e) {
            throw new ServiceException(HttpStatus.BAD_REQUEST, "invalid_request_error", param,
                    e.raisedByTemplate() ? "chat_template_rejected" : "chat_template_error",
                    line + ": the chat template cannot render it: " + e.getMessage());
        }
    }

    /**
     * The file's examples as training takes them, in file order: plain lines tokenized as pyreft does, chat lines
     * rendered with the model's chat template as it is now.
     *
     * @throws ServiceException 400 (param {@code training_file}) naming a chat line the model cannot render
     */
    List<TrainingExample> tokenize(TrainingFile file) {
        List<TrainingExample> out = new ArrayList<>(file.examples().size());
        for (TrainingFile.Example e : file.examples()) {
            if (e instanceof TrainingFile.Chat c) {
                out.add(TrainingExample.ofRendered(tokenizer,
                        render(c, "training_file", "training file '" + file.id() + "' "), c.completion()));
            } else {
                TrainingFile.Completion c = (TrainingFile.Completion) e;
                out.add(TrainingExample.of(tokenizer, c.prompt(), c.completion()));
            }
        }
        return out;
    }

    private static ServiceException badLine(int number, String what) {
        return ServiceException.invalidRequest("file", "line " + number + " " + what);
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        IDS.nextBytes(b);
        return b;
    }

    private static TrainingFile of(StoredFile f, List<TrainingFile.Example> examples) {
        return new TrainingFile(f.id(), f.tenant(), f.filename(), f.purpose(), f.bytes(), f.createdAt(),
                f.expiresAt(), examples);
    }

    private Optional<TrainingFile> load(StoredFile f) {
        if (!PURPOSE.equals(f.purpose())) {
            return Optional.of(of(f, List.of())); // a results file: no examples in it
        }
        List<TrainingFile.Example> examples = parsed.get(f.id());
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

    /**
     * The tenant's file of examples to train on: its training files only.
     *
     * @param param the request field naming it, for the 400 of a file that is not one
     * @throws ServiceException 400 for a results file
     */
    public Optional<TrainingFile> examples(String tenant, String id, String param) {
        Optional<TrainingFile> f = get(tenant, id);
        if (f.isPresent() && !PURPOSE.equals(f.get().purpose())) {
            throw ServiceException.invalidRequest(param, "file '" + id + "' holds a job's " + f.get().purpose()
                    + ", not examples to train on");
        }
        return f;
    }

    /**
     * Keeps a finished job's results (a CSV) as the tenant's file {@code id}, purpose {@link #RESULTS_PURPOSE}; a
     * file already kept under that id (by a server that finished the job before) stays.
     */
    public void keepResults(String tenant, String id, String filename, byte[] csv) {
        if (store.file(tenant, id).isPresent()) {
            return;
        }
        store.addFile(new StoredFile(id, tenant, filename, RESULTS_PURPOSE, csv.length,
                Instant.now().truncatedTo(ChronoUnit.MILLIS), null), csv);
    }

    /** The tenant's file; another tenant's id is as unknown as one that never existed. */
    public Optional<TrainingFile> get(String tenant, String id) {
        return id == null ? Optional.empty() : store.file(tenant, id).flatMap(this::load);
    }

    /** The tenant's file's bytes as uploaded; another tenant's id is as unknown as one that never existed. */
    public Optional<byte[]> content(String tenant, String id) {
        return id == null ? Optional.empty() : store.fileContent(tenant, id);
    }

    /** The tenant's files, newest first. */
    public List<TrainingFile> list(String tenant) {
        return store.files(tenant).stream().map(this::load).flatMap(Optional::stream).toList();
    }

    /** Deletes every expired file from the store (reads no longer see them already). */
    public void deleteExpired() {
        store.deleteExpiredFiles(Instant.now()).forEach(parsed::remove);
    }

    public boolean delete(String tenant, String id) {
        boolean deleted = store.deleteFile(tenant, id);
        if (deleted) {
            parsed.remove(id);
        }
        return deleted;
    }
}
