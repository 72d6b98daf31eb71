package dev.reftserver.chat;

import dev.reftserver.config.ModelProperties;
import dev.reftserver.tokenizer.TextTokenizer;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The base model's chat template, found once at startup. */
@Configuration(proxyBeanMethods = false)
public class ChatConfiguration {

    private static final Logger log = LoggerFactory.getLogger(ChatConfiguration.class);

    @Bean
    ChatPrompts chatPrompts(ModelProperties model, TextTokenizer tokenizer) {
        ChatTemplate template = ChatTemplates.find(Path.of(model.path()), model.chatTemplate())
                .map(ChatTemplate::new).orElse(null);
        log.info(template == null ? "no chat template: /v1/chat/completions answers 400"
                : "chat template loaded ({} characters)", template == null ? 0 : template.source().length());
        return new ChatPrompts(template, tokenizer, ChatTemplates.specialTokenTexts(Path.of(model.path())));
    }
}
