package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.engine.Scheduler;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A request that outlives {@code reft.engine.request-timeout} ends with 504 in OpenAI's shape (as an error event
 * when streaming; a Responses stream's {@code error} and {@code response.failed}) and frees its rows. The work asked
 * for, 16 rows of 200 tokens (one row of 230 for the Responses stream), takes far longer than 250 ms.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"reft.engine.request-timeout=250ms", "reft.model.chat-template=" + ChatServingTestSupport.ZEPHYR})
class RequestTimeoutTest {

    private static final Path STORE = ServingTestSupport.storeDir("request-timeout");
    private static final String SLOW = """
            {"model":"stories15M","prompt":"Once upon a time","max_tokens":200,"n":16,"temperature":0%s}""";

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    @Autowired
    Scheduler scheduler;

    /** The engine publishes its row count at the end of the step that finished the rows: wait for that step. */
    private int rowsRunningAfterAWhile() throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (scheduler.runningRows() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        return scheduler.runningRows();
    }

    @Test
    void aRequestPastTheTimeoutAnswers504() throws InterruptedException {
        HttpResponse<String> r = new Http(port).post("/v1/completions", null, SLOW.formatted(""));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
        JsonNode error = json.readTree(r.body()).get("error");
        assertThat(error.get("code").asString()).isEqualTo("request_timeout");
        assertThat(error.get("type").asString()).isEqualTo("timeout");
        assertThat(error.get("message").asString()).contains("time limit");
        assertThat(rowsRunningAfterAWhile()).isZero();
    }

    @Test
    void aStreamPastTheTimeoutEndsWithAnErrorEvent() throws InterruptedException {
        HttpResponse<String> r = new Http(port).post("/v1/completions", null, SLOW.formatted(",\"stream\":true"));
        assertThat(r.statusCode()).isEqualTo(200);
        List<String> data = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: ")) {
                data.add(line.substring(6));
            }
        }
        assertThat(data).last().isEqualTo("[DONE]");
        JsonNode error = json.readTree(data.get(data.size() - 2)).get("error");
        assertThat(error).as(r.body()).isNotNull();
        assertThat(error.get("code").asString()).isEqualTo("request_timeout");
        assertThat(rowsRunningAfterAWhile()).isZero();
    }

    @Test
    void aResponsesStreamPastTheTimeoutEndsWithAnErrorAndAFailedResponse() throws InterruptedException {
        HttpResponse<String> r = new Http(port).post("/v1/responses", null, """
                {"model":"stories15M","input":"Once upon a time","max_output_tokens":230,"temperature":0,
                 "stream":true}""");
        assertThat(r.statusCode()).isEqualTo(200);
        List<JsonNode> events = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: ")) {
                events.add(json.readTree(line.substring(6)));
            }
        }
        assertThat(events).as(r.body()).hasSizeGreaterThan(2);
        JsonNode error = events.get(events.size() - 2);
        assertThat(error.get("type").asString()).isEqualTo("error");
        assertThat(error.get("code").asString()).isEqualTo("request_timeout");
        JsonNode failed = events.get(events.size() - 1);
        assertThat(failed.get("type").asString()).isEqualTo("response.failed");
        assertThat(failed.at("/response/status").asString()).isEqualTo("failed");
        assertThat(failed.at("/response/error/code").asString()).isEqualTo("request_timeout");
        assertThat(failed.at("/response/id").asString()).isEqualTo(events.get(0).at("/response/id").asString());
        assertThat(rowsRunningAfterAWhile()).isZero();
    }
}
