package dev.reftserver.api;

import java.util.List;

/** OpenAI's list envelope: {@code {"object":"list","data":[...]}}. */
public record ListView<T>(String object, List<T> data) {

    public static <T> ListView<T> of(List<T> data) {
        return new ListView<>("list", data);
    }
}
