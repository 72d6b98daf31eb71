package dev.reftserver.api;

import dev.reftserver.registry.InterventionUploads;
import dev.reftserver.registry.InterventionVersion;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.tenant.TenantPrincipal;
import java.io.IOException;
import java.net.URI;
import java.util.List;
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
class InterventionController {

    private final RegistryStore store;
    private final InterventionUploads uploads;

    InterventionController(RegistryStore store, InterventionUploads uploads) {
        this.store = store;
        this.uploads = uploads;
    }

    @PostMapping(consumes = MediaType.MULTIPART_FORM_DATA_VALUE)
    ResponseEntity<InterventionView> upload(@AuthenticationPrincipal TenantPrincipal caller,
            @RequestPart("bundle") MultipartFile bundle,
            @RequestParam(name = "name", required = false) String name,
            @RequestParam(name = "positions", required = false) String positions,
            @RequestParam(name = "share_weights", required = false) Boolean shareWeights) throws IOException {
        InterventionVersion v = uploads.upload(caller.tenant(), name, bundle.getOriginalFilename(),
                bundle.getBytes(), positions, shareWeights);
        return ResponseEntity.created(URI.create("/v1/interventions/" + v.name() + "/versions/" + v.version()))
                .body(InterventionView.of(v));
    }

    /** Every version of every intervention of the caller, by name then version. */
    @GetMapping
    ListView<InterventionView> list(@AuthenticationPrincipal TenantPrincipal caller) {
        return ListView.of(store.versions(caller.tenant()).stream().map(InterventionView::of).toList());
    }

    @GetMapping("/{name}")
    ListView<InterventionView> versions(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name) {
        List<InterventionVersion> versions = store.versions(caller.tenant(), name);
        if (versions.isEmpty()) {
            throw notFound(name);
        }
        return ListView.of(versions.stream().map(InterventionView::of).toList());
    }

    @GetMapping("/{name}/versions/{version}")
    InterventionView version(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @PathVariable int version) {
        return store.version(caller.tenant(), name, version).map(InterventionView::of)
                .orElseThrow(() -> notFound(name + "@" + version));
    }

    @DeleteMapping("/{name}")
    ResponseEntity<Void> delete(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name) {
        if (store.deleteIntervention(caller.tenant(), name) == 0) {
            throw notFound(name);
        }
        return ResponseEntity.noContent().build();
    }

    @DeleteMapping("/{name}/versions/{version}")
    ResponseEntity<Void> deleteVersion(@AuthenticationPrincipal TenantPrincipal caller, @PathVariable String name,
            @PathVariable int version) {
        if (!store.deleteVersion(caller.tenant(), name, version)) {
            throw notFound(name + "@" + version);
        }
        return ResponseEntity.noContent().build();
    }

    private static ApiException notFound(String what) {
        return ApiException.notFound("name", "intervention '" + what + "' not found");
    }
}
