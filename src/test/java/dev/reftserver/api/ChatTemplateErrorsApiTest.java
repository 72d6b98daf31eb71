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

/**
 * Chat requests the model's chat template cannot serve answer 400 and say why; variables a request gives the
 * template ({@code chat_template_kwargs}) reach it.
 */
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

    /** A template that reads request variables, as Qwen3's reads {@code enable_thinking}. */
    @Nested
    @SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.store.path=target/test-stores/chat-variables",
        "reft.model.chat-template=src/test/resources/chat/thinking-switch.jinja"})
    class TemplateWithVariables extends Client {

        int promptTokens(String kwargs) throws Exception {
            return chat("""
                    {"model":"stories15M","messages":[{"role":"user","content":"Hi"}],"max_tokens":1%s}"""
                    .formatted(kwargs), 200).get("usage").get("prompt_tokens").asInt();
        }

        @Test
        void chatTemplateKwargsAreTheTemplatesVariables() throws Exception {
            int plain = promptTokens("");
            assertThat(promptTokens(",\"chat_template_kwargs\":{}")).isEqualTo(plain);
            assertThat(promptTokens(",\"chat_template_kwargs\":{\"enable_thinking\":true}")).isEqualTo(plain);
            int noThinking = promptTokens(",\"chat_template_kwargs\":{\"enable_thinking\":false}");
            int persona = promptTokens(",\"chat_template_kwargs\":{\"persona\":\"a pirate\"}");
            assertThat(noThinking).isGreaterThan(plain);
            assertThat(persona).isGreaterThan(plain);
            assertThat(promptTokens(",\"chat_template_kwargs\":{\"enable_thinking\":false,\"persona\":\"a pirate\"}"))
                    .isEqualTo(noThinking + persona - plain);
        }

        @Test
        void variablesTheServerSetsOrANonObjectAre400() throws Exception {
            for (String name : new String[] {"messages", "add_generation_prompt", "tools", "bos_token"}) {
                JsonNode error = chat("""
                        {"model":"stories15M","messages":[{"role":"user","content":"Hi"}],
                         "chat_template_kwargs":{"%s":1}}""".formatted(name), 400).get("error");
                assertThat(error.get("param").asString()).isEqualTo("chat_template_kwargs." + name);
            }
            JsonNode error = chat("""
                    {"model":"stories15M","messages":[{"role":"user","content":"Hi"}],
                     "chat_template_kwargs":[1]}""", 400).get("error");
            assertThat(error.get("param").asString()).isEqualTo("chat_template_kwargs");
        }
    }
}
