package dev.reftserver.registry;

import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;
import org.springframework.util.StringUtils;

/** Whether {@code reft.store.jdbc-url} is set to something: then PostgreSQL replaces the embedded store. */
final class JdbcUrlCondition implements Condition {

    static final String PROPERTY = "reft.store.jdbc-url";

    @Override
    public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
        return StringUtils.hasText(context.getEnvironment().getProperty(PROPERTY));
    }

    /** The opposite. */
    static final class Absent implements Condition {

        @Override
        public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
            return !StringUtils.hasText(context.getEnvironment().getProperty(PROPERTY));
        }
    }
}
