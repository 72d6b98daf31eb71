package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.error.ServiceException;
import dev.reftserver.tenant.TenantPrincipal;
import dev.reftserver.training.TrainingFile;
import dev.reftserver.training.TrainingFiles;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.tags.Tag;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/** OpenAI's Files API for fine-tuning data: the caller's JSONL files of {prompt, completion} or chat examples. */
@RestController
@RequestMapping("/v1/files")
@Tag(name = "Files", description = "Fine-tuning data: JSONL lines of {\"prompt\", \"completion\"} or {\"messages\"}")
class FileController {

    /** OpenAI's file object. */
    record FileView(String id, String object, long bytes, @JsonProperty("created_at") long createdAt,
            @JsonProperty("expires_at") Long expiresAt, String filename, String purpose, String status,
            int examples) {

        static FileView of(TrainingFile f) {
            return new FileView(f.id(), "file", f.bytes(), f.createdAt().getEpochSecond(),
                    f.expiresAt() == null ? null : f.expiresAt().getEpochSecond(), f.filename(), f.purpose(),
                    "processed", f.examples().size());
        }
    }

    record Deleted(String id, String object, boolean deleted) {
    }

    @Schema(name = "FileUpload")
    record UploadForm(
            @Schema(type = "string", format = "binary", requiredMode = Schema.RequiredMode.REQUIRED,
                    description = "JSONL: one {\"prompt\": ..., \"completion\": ...} object per line, or a chat"
                            + " {\"messages\": [...]} ending with the assistant's message, rendered with the model's"
                            + " chat template") byte[] file,
            @Schema(requiredMode = Schema.RequiredMode.REQUIRED, example = "fine-tune") String purpose) {
    }

    private final TrainingFiles files;

    FileController(TrainingFiles files) {
        this.files = files;
    }

    @Operation(summary = "Upload a fine-tuning file", description = """
            Every line is validated; the first bad one is named in the 400. Limits: `reft.training.max-file-bytes`, \
            `reft.training.max-examples`, `reft.training.max-files` per tenant. Files are kept in the registry store \
            until deleted, or with OpenAI's `expires_after[anchor]=created_at` and `expires_after[seconds]` (3600 to \
            2592000) until `expires_at`: then they are gone for every request (a job that has read one trains on).""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = MediaType.MULTIPART_FORM_DATA_VALUE, schema = @Schema(implementation = UploadForm.class)))
    @PostMapping(consumes = MediaType.MULTIPART_FORM_DATA_VALUE)
    FileView upload(@AuthenticationPrincipal TenantPrincipal caller, HttpServletRequest request,
            @Parameter(hidden = true) @RequestParam(name = "purpose", required = false) String purpose)
            throws IOException, ServletException {
        // A servlet Part, not a MultipartFile: clients that send bytes without a file name (the OpenAI Java SDK
        // does) would otherwise arrive as a text field.
        Duration expiresAfter = expiresAfter(request);
        Part file = request.getPart("file");
        if (file == null) {
            throw ServiceException.invalidRequest("file", "a multipart part 'file' is required");
        }
        try (InputStream in = file.getInputStream()) {
            return FileView.of(files.upload(caller.tenant(), file.getSubmittedFileName(), purpose, in.readAllBytes(),
                    expiresAfter));
        }
    }

    /** OpenAI's {@code expires_after}: anchor {@code created_at}, 3600 to 2592000 seconds; null when absent. */
    private static Duration expiresAfter(HttpServletRequest request) {
        Map<String, String[]> fields = request.getParameterMap();
        for (String k : fields.keySet()) {
            if (k.startsWith("expires_after") && !k.equals(ANCHOR) && !k.equals(SECONDS)) {
                throw ServiceException.invalidRequest("expires_after", "'" + k + "' is not a field of expires_after "
                        + "(" + ANCHOR + ", " + SECONDS + ")");
            }
        }
        String anchor = request.getParameter(ANCHOR);
        String seconds = request.getParameter(SECONDS);
        if (anchor == null && seconds == null) {
            return null;
        }
        if (!"created_at".equals(anchor)) {
            throw ServiceException.invalidRequest("expires_after.anchor", "expires_after's anchor must be "
                    + "'created_at', not " + (anchor == null ? "missing" : "'" + anchor + "'"));
        }
        long s;
        try {
            s = seconds == null ? -1 : Long.parseLong(seconds.strip());
        } catch (NumberFormatException e) {
            s = -1;
        }
        if (s < MIN_EXPIRY_SECONDS || s > MAX_EXPIRY_SECONDS) {
            throw ServiceException.invalidRequest("expires_after.seconds", "expires_after's seconds must be a "
                    + "whole number from " + MIN_EXPIRY_SECONDS + " (an hour) to " + MAX_EXPIRY_SECONDS
                    + " (30 days), not " + (seconds == null ? "missing" : "'" + seconds + "'"));
        }
        return Duration.ofSeconds(s);
    }

    private static final String ANCHOR = "expires_after[anchor]";
    private static final String SECONDS = "expires_after[seconds]";
    static final long MIN_EXPIRY_SECONDS = 3600;
    static final long MAX_EXPIRY_SECONDS = 2_592_000;

    @Operation(summary = "List the caller's files", description = """
            Newest first (`order=asc`: oldest first), only those of `purpose` when given; a page of `limit` \
            (10000) files after the file `after` (a cursor: the last id of the previous page), `has_more` saying \
            whether another page follows.""")
    @GetMapping
    PageView<FileView> list(@AuthenticationPrincipal TenantPrincipal caller,
            @RequestParam(name = "limit", defaultValue = "10000") int limit,
            @RequestParam(name = "after", required = false) String after,
            @RequestParam(name = "order", defaultValue = "desc") String order,
            @RequestParam(name = "purpose", required = false) String purpose) {
        if (!order.equals("desc") && !order.equals("asc")) {
            throw ServiceException.invalidRequest("order", "order must be 'asc' or 'desc', not '" + order + "'");
        }
        List<FileView> all = new ArrayList<>(files.list(caller.tenant()).stream().map(FileView::of)
                .filter(f -> purpose == null || f.purpose().equals(purpose)).toList());
        if (order.equals("asc")) {
            Collections.reverse(all);
        }
        return PageView.of(all, limit, after, FileView::id);
    }

    @Operation(summary = "Describe one file")
    @GetMapping("/{id}")
    FileView get(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        return files.get(caller.tenant(), id).map(FileView::of).orElseThrow(() -> notFound(id));
    }

    @Operation(summary = "One file's content, as uploaded")
    @GetMapping("/{id}/content")
    ResponseEntity<byte[]> content(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        // Whatever the Accept header asks (OpenAI's Python client sends application/binary), the bytes as stored.
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_OCTET_STREAM)
                .body(files.content(caller.tenant(), id).orElseThrow(() -> notFound(id)));
    }

    @Operation(summary = "Delete one file")
    @DeleteMapping("/{id}")
    Deleted delete(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String id) {
        if (!files.delete(caller.tenant(), id)) {
            throw notFound(id);
        }
        return new Deleted(id, "file", true);
    }

    private static ServiceException notFound(String id) {
        return ServiceException.notFound("file_id", "file '" + id + "' not found");
    }
}
