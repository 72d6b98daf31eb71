package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

/** {@code /v3/api-docs} and Swagger UI: open without a key, and the document lists the whole HTTP API. */
class OpenApiDocumentTest extends OperationsTestSupport {

    /** Every endpoint of the design's HTTP API, as (method, path template). */
    static final List<List<String>> ENDPOINTS = List.of(
            List.of("get", "/v1/models"),
            List.of("post", "/v1/completions"),
            List.of("post", "/v1/chat/completions"),
            List.of("post", "/v1/responses"),
            List.of("post", "/v1/interventions"),
            List.of("get", "/v1/interventions"),
            List.of("get", "/v1/interventions/{name}"),
            List.of("delete", "/v1/interventions/{name}"),
            List.of("delete", "/v1/interventions/{name}/versions/{version}"),
            List.of("get", "/v1/interventions/{name}/versions/{version}/bundle"),
            List.of("get", "/v1/interventions/{name}/bundle"),
            List.of("put", "/v1/tasks/{task}"),
            List.of("get", "/v1/tasks/{task}"),
            List.of("delete", "/v1/tasks/{task}"),
            List.of("get", "/v1/tasks"),
            List.of("post", "/admin/tenants"),
            List.of("get", "/admin/tenants"),
            List.of("delete", "/admin/tenants/{name}"),
            List.of("post", "/admin/tenants/{name}/keys"));

    @Test
    void servesAnOpenApi3DocumentListingEveryEndpointWithoutAKey() {
        HttpResponse<String> r = http().get("/v3/api-docs", null);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode doc = json(r);
        assertThat(doc.get("openapi").asString()).startsWith("3.");
        JsonNode paths = doc.get("paths");
        assertThat(paths).isNotNull();
        for (List<String> e : ENDPOINTS) {
            assertThat(paths.path(e.get(1)).has(e.get(0))).as("%s %s", e.get(0), e.get(1)).isTrue();
        }
        assertThat(doc.at("/components/securitySchemes/bearer/scheme").asString()).isEqualTo("bearer");
    }

    @Test
    void documentsTheCompletionExampleTheUploadFormAndTheErrorShape() {
        JsonNode doc = json(http().get("/v3/api-docs", null));
        JsonNode completions = doc.at("/paths/~1v1~1completions/post");
        JsonNode example = completions.at("/requestBody/content/application~1json/examples/base/value");
        assertThat(example.get("model").asString()).isEqualTo("stories15M");
        assertThat(example.get("prompt").asString()).isEqualTo("Once upon a time");
        assertThat(completions.at("/responses/200/content").has("text/event-stream")).isTrue();
        assertThat(completions.at("/responses/200/headers").has("X-Reft-Intervention")).isTrue();

        JsonNode upload = doc.at("/paths/~1v1~1interventions/post/requestBody/content/multipart~1form-data/schema");
        JsonNode form = doc.at("/components/schemas/" + upload.get("$ref").asString().replace("#/components/schemas/",
                ""));
        assertThat(form.at("/properties/bundle/format").asString()).isEqualTo("binary");
        assertThat(form.get("properties").propertyNames()).containsExactlyInAnyOrder("bundle", "name", "positions",
                "share_weights", "prompt_template");
        assertThat(form.get("required").get(0).asString()).isEqualTo("bundle");

        JsonNode error = doc.at("/components/schemas/ErrorBody/properties/error");
        assertThat(error.get("$ref").asString()).isEqualTo("#/components/schemas/ErrorDetail");
        assertThat(doc.at("/components/schemas/ErrorDetail/properties").propertyNames())
                .containsExactlyInAnyOrder("message", "type", "param", "code");
        // every operation falls back to the error envelope
        doc.get("paths").forEach(path -> path.forEach(op -> assertThat(op.at("/responses/default/content/"
                + "application~1json/schema/$ref").asString()).isEqualTo("#/components/schemas/ErrorBody")));
    }

    @Test
    void documentsChatCompletionsItsFieldsAndBothAnswerShapes() {
        JsonNode doc = json(http().get("/v3/api-docs", null));
        JsonNode chat = doc.at("/paths/~1v1~1chat~1completions/post");
        JsonNode example = chat.at("/requestBody/content/application~1json/examples/base/value");
        assertThat(example.get("messages").get(0).get("role").asString()).isEqualTo("user");
        assertThat(chat.at("/responses/200/content").has("text/event-stream")).isTrue();
        assertThat(chat.at("/responses/200/headers").has("X-Reft-Intervention")).isTrue();
        assertThat(chat.at("/responses/200/content/application~1json/schema/$ref").asString())
                .isEqualTo("#/components/schemas/ChatCompletionResponse");
        assertThat(doc.at("/components/schemas/ChatCompletionResponse/properties/choices/items/$ref").asString())
                .isEqualTo("#/components/schemas/ChatCompletionChoice");
        assertThat(doc.at("/components/schemas/CompletionResponse/properties/choices/items/$ref").asString())
                .isEqualTo("#/components/schemas/Choice");
        JsonNode request = doc.at("/components/schemas/ChatCompletionRequest/properties");
        assertThat(request.propertyNames()).contains("model", "messages", "max_tokens", "max_completion_tokens",
                "temperature", "top_p", "top_k", "n", "stop", "seed", "stream", "stream_options", "user",
                "intervention", "interventions", "response_format", "logprobs");
        assertThat(request.at("/messages/items/$ref").asString()).isEqualTo("#/components/schemas/ChatMessage");
        assertThat(doc.at("/components/schemas/ChatMessage/properties").propertyNames())
                .contains("role", "content", "name");
    }

    @Test
    void documentsTheBundleDownloadAsAZipInEitherFormat() {
        JsonNode doc = json(http().get("/v3/api-docs", null));
        JsonNode get = doc.at("/paths/~1v1~1interventions~1{name}~1versions~1{version}~1bundle/get");
        assertThat(get.at("/responses/200/content/application~1zip/schema/format").asString()).isEqualTo("binary");
        JsonNode format = null;
        for (JsonNode p : get.get("parameters")) {
            if (p.get("name").asString().equals("format")) {
                format = p;
            }
        }
        assertThat(format).isNotNull();
        assertThat(format.get("in").asString()).isEqualTo("query");
        assertThat(format.at("/schema/enum").valueStream().map(JsonNode::asString).toList())
                .containsExactly("native", "pyreft");
        assertThat(get.at("/responses/404/content/application~1json/schema/$ref").asString()).endsWith("ErrorBody");
    }

    @Test
    void documentsEveryCompletionFieldLogprobsAndCompositions() {
        JsonNode doc = json(http().get("/v3/api-docs", null));
        JsonNode request = doc.at("/components/schemas/CompletionRequest/properties");
        assertThat(request.propertyNames()).contains("model", "prompt", "max_tokens", "max_completion_tokens",
                "logprobs", "echo", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias",
                "intervention", "interventions", "top_k", "stream_options").doesNotContain("unknown");
        for (String field : List.of("logprobs", "echo", "repetition_penalty", "logit_bias", "max_completion_tokens")) {
            assertThat(request.get(field).has("description")).as(field).isTrue();
        }
        assertThat(doc.at("/components/schemas/InterventionRef/properties").propertyNames())
                .containsExactlyInAnyOrder("name", "scale");
        assertThat(doc.at("/components/schemas/Logprobs/properties").propertyNames())
                .containsExactlyInAnyOrder("tokens", "token_logprobs", "top_logprobs", "text_offset");
        JsonNode examples = doc.at("/paths/~1v1~1completions/post/requestBody/content/application~1json/examples");
        assertThat(examples.at("/loglikelihood/value/echo").asBoolean()).isTrue();
        assertThat(examples.at("/composition/value/interventions").size()).isEqualTo(2);
    }

    @Test
    void servesSwaggerUiWithoutAKey() {
        assertThat(http().get("/swagger-ui.html", null).statusCode()).isEqualTo(302);
        HttpResponse<String> ui = http().get("/swagger-ui/index.html", null);
        assertThat(ui.statusCode()).isEqualTo(200);
        assertThat(ui.body()).contains("Swagger UI");
    }
}
