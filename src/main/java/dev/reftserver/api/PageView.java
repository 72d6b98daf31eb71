package dev.reftserver.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.reftserver.error.ServiceException;
import java.util.List;
import java.util.function.Function;

/** OpenAI's cursor-paged list envelope: {@code {"object":"list","data":[...],"has_more":...}}. */
public record PageView<T>(String object, List<T> data, @JsonProperty("has_more") boolean hasMore) {

    /**
     * OpenAI's cursor page: up to {@code limit} items following the one whose id is {@code after} (from the
     * first without), and whether more follow, so that clients' auto-pagination (the next request's
     * {@code after} is this page's last id) walks the list once.
     *
     * @throws ServiceException 400 for a cursor that names no item of the list
     */
    public static <T> PageView<T> of(List<T> all, int limit, String after, Function<T, String> id) {
        int from = 0;
        if (after != null) {
            from = -1;
            for (int i = 0; i < all.size() && from < 0; i++) {
                if (id.apply(all.get(i)).equals(after)) {
                    from = i + 1;
                }
            }
            if (from < 0) {
                throw ServiceException.invalidRequest("after", "'" + after + "' is not in this list");
            }
        }
        int to = (int) Math.min(all.size(), (long) from + Math.max(1, limit));
        return new PageView<>("list", all.subList(from, to), to < all.size());
    }
}
