package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Chat requests the model's chat template cannot serve answer 400 and say why. */
class ChatTemplateErrorsApiTest {

    abstract static class Client {

        @LocalServerPort
        int port;

        @Autowired
        JsonMapper json;

        JsonNode chat(String body, int status) throws Exception {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://localhost:" + port + "/v1/chat/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
            return json.readTree(r.body());
        }
    }

    /** The default llama2.c stories15M has no chat template unless one is configured. */
    @Nested
    @SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
            properties = "reft.store.path=target/test-stores/completion-api")
    class WithoutTemplate extends Client {

        @Test
        void aModelWithoutChatTemplateAnswers400SayingSo() throws Exception {
            JsonNode error = chat("""
                    {"model":"stories15M","messages":[{"role":"user","content":"Hi"}]}""", 400).get("error");
            assertThat(error.get("code").asString()).isEqualTo("no_chat_template");
            assertThat(error.get("message").asString()).contains("has no chat template")
                    .contains("reft.model.chat-template");
        }
    }

    /** Gemma's template raises for a system message and for roles that do not alternate. */
    @Nested
    @SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.store.path=target/test-stores/chat-gemma",
        "reft.model.chat-template=src/test/resources/reference/chat/google-gemma-2-2b-it.jinja"})
    class TemplateThatRaises extends Client {

        @Test
        void raiseExceptionIs400WithTheTemplatesMessage() throws Exception {
            JsonNode error = chat("""
                    {"model":"stories15M","messages":[{"role":"system","content":"Be brief."},
                     {"role":"user","content":"Hi"}]}""", 400).get("error");
            assertThat(error.get("message").asString()).isEqualTo("System role not supported");
            assertThat(error.get("param").asString()).isEqualTo("messages");
            assertThat(error.get("code").asString()).isEqualTo("chat_template_rejected");
        }

        @Test
        void aConversationTheTemplateAcceptsIsServed() throws Exception {
            JsonNode body = chat("""
                    {"model":"stories15M","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}""", 200);
            assertThat(body.get("usage").get("completion_tokens").asInt()).isBetween(1, 3);
        }
    }
}
