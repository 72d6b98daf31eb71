package dev.reftserver.api;

import io.swagger.v3.oas.annotations.media.Schema;

/** OpenAI's error envelope: {@code {"error":{"message","type","param","code"}}}. */
public record ErrorBody(Detail error) {

    @Schema(name = "ErrorDetail")
    public record Detail(String message, String type, String param, String code) {
    }

    public static ErrorBody of(String message, String type, String param, String code) {
        return new ErrorBody(new Detail(message, type, param, code));
    }
}
