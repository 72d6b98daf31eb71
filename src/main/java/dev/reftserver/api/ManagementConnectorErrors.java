package dev.reftserver.api;

import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextType;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * {@link ConnectorErrors} on the management server too, where {@code management.server.port} gives the actuator a
 * server of its own (a child context that the API's customizers do not reach): its refusals are JSON as well. Listed
 * for the child context in META-INF/spring; the API's component scan finds it as well, where it stays out (the main
 * context has no parent).
 */
@ManagementContextConfiguration(value = ManagementContextType.CHILD, proxyBeanMethods = false)
@Conditional(ManagementConnectorErrors.InChildContext.class)
class ManagementConnectorErrors {

    @Bean
    WebServerFactoryCustomizer<TomcatServletWebServerFactory> managementServerConnectorErrors() {
        return new ConnectorErrors();
    }

    /** True in a context with a parent: the management server's, not the application's. */
    static final class InChildContext implements Condition {

        @Override
        public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
            return context.getBeanFactory() != null && context.getBeanFactory().getParentBeanFactory() != null;
        }
    }
}
