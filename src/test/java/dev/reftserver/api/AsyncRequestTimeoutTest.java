package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Where Spring's own limit on an asynchronous request ({@code spring.mvc.async.request-timeout}) runs out before the
 * engine's, the client gets the engine deadline's 504 in OpenAI's shape, not a 500.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"spring.mvc.async.request-timeout=250ms", "reft.engine.request-timeout=60s"})
class AsyncRequestTimeoutTest {

    private static final Path STORE = ServingTestSupport.storeDir("async-request-timeout");

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    @Autowired
    JsonMapper json;

    @Test
    void aRequestPastSpringsAsyncLimitAnswers504() {
        HttpResponse<String> r = new Http(port).post("/v1/completions", null,
                "{\"model\":\"stories15M\",\"prompt\":\"Once upon a time\",\"max_tokens\":200,\"n\":16,"
                        + "\"temperature\":0}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
        JsonNode error = json.readTree(r.body()).get("error");
        assertThat(error.get("code").asString()).isEqualTo("request_timeout");
        assertThat(error.get("type").asString()).isEqualTo("timeout");
    }
}
