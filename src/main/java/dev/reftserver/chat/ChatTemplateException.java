package dev.reftserver.chat;

/**
 * A chat template refused to render a conversation: it called {@code raise_exception(message)} (the message is the
 * template's own, verbatim), or it failed on input it does not handle. Always the request's fault, never the
 * server's: a template that rejects a conversation must not render something else instead.
 */
public final class ChatTemplateException extends RuntimeException {

    private final boolean raisedByTemplate;

    ChatTemplateException(String message, boolean raisedByTemplate) {
        super(message);
        this.raisedByTemplate = raisedByTemplate;
    }

    /** True when the template itself rejected the conversation with {@code raise_exception}. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
