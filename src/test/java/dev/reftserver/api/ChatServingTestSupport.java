package dev.reftserver.api;

import java.nio.file.Path;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestPropertySource;

/**
 * The serving tests' server with the Zephyr chat template of the reference's stories15M chat setup: a
 * second application context beside {@link ServingTestSupport}'s, with a store directory of its own.
 */
@TestPropertySource(properties = "reft.model.chat-template=" + ChatServingTestSupport.ZEPHYR)
abstract class ChatServingTestSupport extends ServingTestBase {

    static final String ZEPHYR = "src/test/resources/reference/chat/HuggingFaceH4-zephyr-7b-beta.jinja";

    static final Path CHAT_STORE = storeDir("serving-chat");

    @DynamicPropertySource
    static void chatStorePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", CHAT_STORE::toString);
    }
}
