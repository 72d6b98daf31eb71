package dev.reftserver.api;

import dev.reftserver.error.ServiceException;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.registry.ApiKeyRecord;
import dev.reftserver.registry.RateLimits;
import dev.reftserver.registry.RegistryStore;
import dev.reftserver.registry.Tenant;
import dev.reftserver.tenant.ApiKeys;
import dev.reftserver.tenant.TenantAdmin;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.media.Content;
import io.swagger.v3.oas.annotations.media.ExampleObject;
import io.swagger.v3.oas.annotations.media.Schema;
import io.swagger.v3.oas.annotations.responses.ApiResponse;
import io.swagger.v3.oas.annotations.tags.Tag;
import java.net.URI;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PatchMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.JsonNode;

/**
 * Tenants and their keys, for the holder of the admin key. A key is shown once, when it is made. Limits are
 * positive integers per minute, or null for unlimited; in a PATCH an absent field keeps its value.
 */
@RestController
@RequestMapping("/admin/tenants")
@Tag(name = "Admin: tenants", description = "Tenants, their keys and rate limits; needs the admin key")
class AdminTenantController {

    record TenantView(
            String object,
            String name,
            @JsonProperty("created_at") long createdAt,
            @JsonProperty("requests_per_minute") Long requestsPerMinute,
            @JsonProperty("tokens_per_minute") Long tokensPerMinute) {

        static TenantView of(Tenant t) {
            return new TenantView("tenant", t.name(), t.createdAt().getEpochSecond(),
                    t.limits().requestsPerMinute(), t.limits().tokensPerMinute());
        }
    }

    record KeyView(String object, String id, @JsonProperty("created_at") long createdAt) {

        static KeyView of(ApiKeyRecord k) {
            return new KeyView("api_key", k.id(), k.createdAt().getEpochSecond());
        }
    }

    /** The answer that carries a new key, the only time it is shown. */
    record IssuedKeyView(
            String name,
            @JsonProperty("api_key") String apiKey,
            @JsonProperty("key_id") String keyId,
            @JsonProperty("requests_per_minute") Long requestsPerMinute,
            @JsonProperty("tokens_per_minute") Long tokensPerMinute) {
    }

    private final TenantAdmin admin;
    private final RegistryStore store;

    AdminTenantController(TenantAdmin admin, RegistryStore store) {
        this.admin = admin;
        this.store = store;
    }

    @Operation(summary = "Create a tenant with its first key", description = """
            `name` is required; `requests_per_minute` and `tokens_per_minute` are positive integers, or null or \
            absent for unlimited. The key is shown only in this answer; the server keeps its hash.""")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = "application/json", schema = @Schema(type = "object"), examples = @ExampleObject(value = """
                    {"name": "acme", "requests_per_minute": 600, "tokens_per_minute": 100000}""")))
    @ApiResponse(responseCode = "201", description = "Created; the only answer that shows the key",
            content = @Content(mediaType = "application/json",
                    schema = @Schema(implementation = IssuedKeyView.class)))
    @ApiResponse(responseCode = "409", description = "A tenant of that name exists",
            content = @Content(mediaType = "application/json", schema = @Schema(implementation = ErrorBody.class)))
    @PostMapping
    ResponseEntity<IssuedKeyView> create(@RequestBody JsonNode body) {
        JsonNode name = body.get("name");
        if (name == null || !name.isString()) {
            throw ServiceException.invalidRequest("name", "'name' is required");
        }
        RateLimits limits = new RateLimits(limit(body, "requests_per_minute", null),
                limit(body, "tokens_per_minute", null));
        TenantAdmin.CreatedTenant created = admin.create(name.asString(), limits);
        Tenant t = created.tenant();
        return ResponseEntity.created(URI.create("/admin/tenants/" + t.name()))
                .body(new IssuedKeyView(t.name(), created.key().key(), created.key().record().id(),
                        limits.requestsPerMinute(), limits.tokensPerMinute()));
    }

    @Operation(summary = "List tenants")
    @GetMapping
    ListView<TenantView> list() {
        return ListView.of(store.tenants().stream().map(TenantView::of).toList());
    }

    @Operation(summary = "Describe a tenant")
    @GetMapping("/{name}")
    TenantView get(@PathVariable String name) {
        return TenantView.of(admin.requireTenant(name));
    }

    @Operation(summary = "Change a tenant's rate limits", description = "An absent field keeps its value; null "
            + "makes it unlimited.")
    @io.swagger.v3.oas.annotations.parameters.RequestBody(required = true, content = @Content(
            mediaType = "application/json", schema = @Schema(type = "object"), examples = @ExampleObject(
                    value = "{\"requests_per_minute\": null, \"tokens_per_minute\": 50000}")))
    @PatchMapping("/{name}")
    TenantView patch(@PathVariable String name, @RequestBody JsonNode body) {
        RateLimits old = admin.requireTenant(name).limits();
        RateLimits limits = new RateLimits(limit(body, "requests_per_minute", old.requestsPerMinute()),
                limit(body, "tokens_per_minute", old.tokensPerMinute()));
        return TenantView.of(admin.updateLimits(name, limits));
    }

    @Operation(summary = "Delete a tenant with its keys, interventions and tasks")
    @ApiResponse(responseCode = "204", description = "Deleted")
    @DeleteMapping("/{name}")
    ResponseEntity<Void> delete(@PathVariable String name) {
        admin.delete(name);
        return ResponseEntity.noContent().build();
    }

    @Operation(summary = "Issue another key for a tenant", description = "The key is shown only in this answer.")
    @ApiResponse(responseCode = "201", description = "Created", content = @Content(mediaType = "application/json",
            schema = @Schema(implementation = IssuedKeyView.class)))
    @PostMapping("/{name}/keys")
    ResponseEntity<IssuedKeyView> newKey(@PathVariable String name) {
        Tenant t = admin.requireTenant(name);
        ApiKeys.IssuedKey key = admin.newKey(name);
        return ResponseEntity.status(201).body(new IssuedKeyView(name, key.key(), key.record().id(),
                t.limits().requestsPerMinute(), t.limits().tokensPerMinute()));
    }

    @Operation(summary = "List a tenant's keys (ids only, never the keys)")
    @GetMapping("/{name}/keys")
    ListView<KeyView> keys(@PathVariable String name) {
        admin.requireTenant(name);
        return ListView.of(store.keys(name).stream().map(KeyView::of).toList());
    }

    @Operation(summary = "Revoke one key")
    @ApiResponse(responseCode = "204", description = "Revoked")
    @DeleteMapping("/{name}/keys/{id}")
    ResponseEntity<Void> deleteKey(@PathVariable String name, @PathVariable String id) {
        admin.deleteKey(name, id);
        return ResponseEntity.noContent().build();
    }

    /** A limit field: absent keeps {@code current}, null means unlimited, else a positive integer. */
    private static Long limit(JsonNode body, String field, Long current) {
        if (!body.has(field)) {
            return current;
        }
        JsonNode v = body.get(field);
        if (v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() <= 0) {
            throw ServiceException.invalidRequest(field, "'" + field + "' must be a positive integer or null");
        }
        return v.longValue();
    }
}
