package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import io.swagger.v3.oas.annotations.media.Schema;
import java.util.Map;

/**
 * One member of a composition: an intervention of the caller and the scale of its edits.
 *
 * @param name  {@code name} (latest version) or {@code name@version}
 * @param scale each edit becomes {@code h + scale * (edit(h) - h)}; default 1, 0 turns it off, negative reverses it
 */
@Schema(description = "An intervention of the caller and the scale of its edits")
public record InterventionRef(
        @Schema(description = "`name` or `name@version`", example = "sentiment@2",
                requiredMode = Schema.RequiredMode.REQUIRED)
        String name,
        @Schema(description = "Edits become h + scale * (edit(h) - h); default 1, 0 disables it, negative reverses it",
                example = "-0.5")
        Double scale,
        @Schema(hidden = true) @JsonAnySetter Map<String, Object> unknown) {

    public double scaleOrDefault() {
        return scale == null ? 1.0 : scale;
    }
}
