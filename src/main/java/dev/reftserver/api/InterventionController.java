package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import dev.reftserver.intervention.BundleLimits;
import dev.reftserver.intervention.PyreftExporter;
import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.RegistryStore;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.tenant.TenantPrincipal;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import java.io.IOException;
import java.net.URI;
import java.util.List;
import org.springframework.http.ContentDisposition;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * A tenant's intervention bundles. Every lookup is scoped to the caller, so another tenant's names answer
 * exactly like names that do not exist.
 */
@RestController
@RequestMapping("/v1/interventions")
@Tag(name = "Interventions", description = "The caller's ReFT intervention bundles, by name and immutable version")
class InterventionController {

    /** The multipart form of an upload, as the OpenAPI document shows it. */
    @Schema(name = "InterventionUpload")
    record UploadForm(
            @Schema(type = "string", format = "binary", requiredMode = Schema.RequiredMode.REQUIRED, description = """
                    A zip of a native bundle (`reft.json` + `weights.safetensors`) or of a pyreft save directory \
                    (`config.json` + `intkey_*.bin`)""")
            byte[] bundle,
            @Schema(description = "Intervention name; defaults to the file name without `.zip`", example = "sentiment")
            String name,
            @Schema(description = "pyreft uploads: positions to intervene (`fN`, `lN`, `fN+lN`)", example = "f5+l5")
            String positions,
            @JsonProperty("share_weights")
            @Schema(description = "pyreft uploads: whether first and last positions share weights")
            Boolean shareWeights,
            @JsonProperty("prompt_template")
            @Schema(description = """
                    The prompt the bundle was trained with, one `%s` where the user's message goes (pyreft's \
                    examples write one); chat requests to this bundle render their last user message into it \
                    instead of the model's chat template. Completions are never templated.""",
                    example = "<|user|>:%s</s>\\n<|assistant|>:")
            String promptTemplate) {
    }

    private final RegistryStore store;
    private final InterventionUploads uploads;
    private final BundleLimits limits;

    InterventionController(RegistryStore store, InterventionUploads uploads, BundleLimits limits) {
        this.store = store;
        this.uploads = uploads;
        this.limits = limits;
    }

    @Operation(summary = "Upload a bundle as the next version of its name", description = """
            Validated against the base model before anything is stored (zip paths and sizes, safe unpickling, \
            shapes, ranks, finite values, orthonormality); pyreft directories are converted to the native format. \
            Uploading a name again makes its next version.""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = MediaType.MULTIPART_FORM_DATA_VALUE, schema = @Schema(implementation = UploadForm.class)))
    @ApiResponse(responseCode = "201", description = "Stored; `Location` names the new version",
            content = @Content(mediaType = "application/json",
                    schema = @Schema(implementation = InterventionView.class)))
    @ApiResponse(responseCode = "400", description = "Invalid name or bundle; the error's `code` says why "
            + "(e.g. `pickle_global`, `shape_mismatch`, `not_orthonormal`)",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "413", description = "Larger than `reft.registry.max-upload-bytes`, a zip bomb, or "
            + "past the tenant's `reft.quotas.stored-bytes`",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "429", description = "At the tenant's `reft.quotas.interventions` or "
            + "`reft.quotas.versions-per-intervention` (code `quota_exceeded`)",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PostMapping(consumes = MediaType.MULTIPART_FORM_DATA_VALUE)
    ResponseEntity<InterventionView> upload(@AuthenticationPrincipal TenantPrincipal caller,
            @Parameter(hidden = true) @RequestPart("bundle") MultipartFile bundle,
            @Parameter(hidden = true) @RequestParam(name = "name", required = false) String name,
            @Parameter(hidden = true) @RequestParam(name = "positions", required = false) String positions,
            @Parameter(hidden = true) @RequestParam(name = "share_weights", required = false) Boolean shareWeights,
            @Parameter(hidden = true) @RequestParam(name = "prompt_template", required = false) String promptTemplate)
            throws IOException {
        InterventionVersion v = uploads.upload(caller.tenant(), name, bundle.getOriginalFilename(),
                bundle.getBytes(), positions, shareWeights, promptTemplate);
        return ResponseEntity.created(URI.create("/v1/interventions/" + v.name() + "/versions/" + v.version()))
                .body(InterventionView.of(v));
    }

    /** Every version of every intervention of the caller, by name then version. */
    @Operation(summary = "List every version of the caller's interventions")
    @GetMapping
    ListView<InterventionView> list(@AuthenticationPrincipal TenantPrincipal caller) {
        return ListView.of(store.versions(caller.tenant()).stream().map(InterventionView::of).toList());
    }

    @Operation(summary = "List the versions of one intervention")
    @GetMapping("/{name}")
    ListView<InterventionView> versions(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name) {
        List<InterventionVersion> versions = store.versions(caller.tenant(), name);
        if (versions.isEmpty()) {
            throw notFound(name);
        }
        return ListView.of(versions.stream().map(InterventionView::of).toList());
    }

    @Operation(summary = "Describe one intervention version")
    @GetMapping("/{name}/versions/{version}")
    InterventionView version(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @PathVariable int version) {
        return store.version(caller.tenant(), name, version).map(InterventionView::of)
                .orElseThrow(() -> notFound(name + "@" + version));
    }

    @Operation(summary = "Download one version's bundle", description = """
            `format=native` (default): the stored `reft-bundle/1` zip, byte for byte (its SHA-256 is the version's \
            `sha256`). `format=pyreft`: a zip of the directory pyreft's `ReftModel.save` writes (`config.json` + one \
            `intkey_*.bin` torch state dict per intervention), for `pyreft.ReftModel.load` or a re-upload with the \
            version's `positions` and `share_weights`; pyreft keeps neither, nor an activation, so bundles with a \
            non-linear activation or a position layout pyreft cannot say are refused with code `not_exportable`.""")
    @ApiResponse(responseCode = "200", description = "The zip, as an attachment named `name@version[-pyreft].zip`",
            content = @Content(mediaType = "application/zip",
                    schema = @Schema(type = "string", format = "binary")))
    @ApiResponse(responseCode = "400", description = "Unknown `format`, or a bundle the format cannot express",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "404", description = "No such intervention version for the caller",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @GetMapping(value = "/{name}/versions/{version}/bundle",
            produces = {"application/zip", MediaType.APPLICATION_JSON_VALUE})
    ResponseEntity<byte[]> bundle(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @PathVariable int version,
            @Parameter(description = "`native` (default) or `pyreft`", schema = @Schema(type = "string",
                    allowableValues = {"native", "pyreft"}, defaultValue = "native"))
            @RequestParam(name = "format", required = false) String format) {
        BundleFormat f = BundleFormat.parse(format);
        byte[] stored = store.bundle(caller.tenant(), name, version)
                .orElseThrow(() -> notFound(name + "@" + version));
        return download(name + "@" + version, f, stored);
    }

    @Operation(summary = "Download the latest version's bundle",
            description = "As `GET /v1/interventions/{name}/versions/{version}/bundle` for the highest version.")
    @ApiResponse(responseCode = "200", description = "The zip, as an attachment named `name@version[-pyreft].zip`",
            content = @Content(mediaType = "application/zip",
                    schema = @Schema(type = "string", format = "binary")))
    @ApiResponse(responseCode = "400", description = "Unknown `format`, or a bundle the format cannot express",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @ApiResponse(responseCode = "404", description = "No such intervention for the caller",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @GetMapping(value = "/{name}/bundle", produces = {"application/zip", MediaType.APPLICATION_JSON_VALUE})
    ResponseEntity<byte[]> latestBundle(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @Parameter(description = "`native` (default) or `pyreft`", schema = @Schema(type = "string",
                    allowableValues = {"native", "pyreft"}, defaultValue = "native"))
            @RequestParam(name = "format", required = false) String format) {
        BundleFormat f = BundleFormat.parse(format);
        InterventionVersion v = store.latest(caller.tenant(), name).orElseThrow(() -> notFound(name));
        byte[] stored = store.bundle(caller.tenant(), name, v.version()).orElseThrow(() -> notFound(v.id()));
        return download(v.id(), f, stored);
    }

    /** The export formats of {@code GET .../bundle}. */
    enum BundleFormat {
        NATIVE, PYREFT;

        static BundleFormat parse(String value) {
            if (value == null || value.equals("native")) {
                return NATIVE;
            }
            if (value.equals("pyreft")) {
                return PYREFT;
            }
            throw ServiceException.invalidRequest("format",
                    "unknown format '" + value + "': use native (the stored bundle) or pyreft");
        }
    }

    private ResponseEntity<byte[]> download(String id, BundleFormat format, byte[] stored) {
        byte[] body = format == BundleFormat.PYREFT ? PyreftExporter.export(stored, limits) : stored;
        String file = id + (format == BundleFormat.PYREFT ? "-pyreft" : "") + ".zip";
        return ResponseEntity.ok()
                .contentType(MediaType.parseMediaType("application/zip"))
                .header(HttpHeaders.CONTENT_DISPOSITION, ContentDisposition.attachment().filename(file).build()
                        .toString())
                .body(body);
    }

    @Operation(summary = "Delete an intervention with all its versions",
            description = "409 while a task routes to any of its versions.")
    @ApiResponse(responseCode = "204", description = "Deleted")
    @DeleteMapping("/{name}")
    ResponseEntity<Void> delete(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name) {
        if (store.deleteIntervention(caller.tenant(), name) == 0) {
            throw notFound(name);
        }
        return ResponseEntity.noContent().build();
    }

    @Operation(summary = "Delete one intervention version",
            description = "409 while a task routes to it. Version numbers are never reused.")
    @ApiResponse(responseCode = "204", description = "Deleted")
    @DeleteMapping("/{name}/versions/{version}")
    ResponseEntity<Void> deleteVersion(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @PathVariable int version) {
        if (!store.deleteVersion(caller.tenant(), name, version)) {
            throw notFound(name + "@" + version);
        }
        return ResponseEntity.noContent().build();
    }

    private static ServiceException notFound(String what) {
        return ServiceException.notFound("name", "intervention '" + what + "' not found");
    }
}
