package dev.reftserver.api;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UnsupportedEncodingException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import org.springframework.http.MediaType;
import org.springframework.web.filter.OncePerRequestFilter;
import tools.jackson.databind.json.JsonMapper;

/**
 * Caps every request body but multipart uploads at {@code reft.api.max-body-bytes}: a declared
 * {@code Content-Length} over the cap is answered 413 before anything reads the body, and a chunked body is
 * counted as it streams, so a parser never holds more than the cap of one request.
 */
final class RequestBodyLimit extends OncePerRequestFilter {

    /** The body passed the cap while being read; the exception handler answers 413. */
    static final class TooLarge extends RuntimeException {

        TooLarge(long max) {
            super("request body exceeds " + max + " bytes (reft.api.max-body-bytes)");
        }

        /** This failure, when a body reader wrapped it; else {@code null}. */
        static TooLarge in(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof TooLarge tl) {
                    return tl;
                }
            }
            return null;
        }
    }

    /** At most this much of a refused body is read and dropped (Tomcat's max-swallow-size does the same). */
    static final long DRAIN_LIMIT = 64L * 1024 * 1024;

    private final long max;
    private final JsonMapper json;

    RequestBodyLimit(long max, JsonMapper json) {
        this.max = max;
        this.json = json;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String type = request.getContentType();
        if (type != null && type.regionMatches(true, 0, MediaType.MULTIPART_FORM_DATA_VALUE, 0,
                MediaType.MULTIPART_FORM_DATA_VALUE.length())) {
            chain.doFilter(request, response); // the multipart limits govern uploads
            return;
        }
        if (request.getContentLengthLong() > max) {
            byte[] body = json.writeValueAsBytes(ErrorBody.of(new TooLarge(max).getMessage(),
                    "invalid_request_error", null, "request_too_large"));
            response.setStatus(HttpServletResponse.SC_REQUEST_ENTITY_TOO_LARGE);
            response.setContentType(MediaType.APPLICATION_JSON_VALUE);
            response.setContentLength(body.length);
            response.setHeader("Connection", "close");
            response.getOutputStream().write(body);
            response.flushBuffer();
            drain(request.getInputStream());
            return;
        }
        Capped capped = new Capped(request, max);
        try {
            chain.doFilter(capped, response);
        } finally {
            if (capped.in != null && capped.in.tripped) {
                response.setHeader("Connection", "close");
                response.flushBuffer();
                drain(request.getInputStream());
            }
        }
    }

    /**
     * Reads and drops what is left of a refused body, up to {@link #DRAIN_LIMIT}, before the connection closes:
     * closing a socket with unread input resets it, and the reset can destroy the 413 on its way to the client.
     * The 413 is flushed first, so a client that reads while it sends has it before the body's end. A body larger
     * still is cut off with the connection.
     */
    private static void drain(java.io.InputStream in) {
        byte[] buf = new byte[64 * 1024];
        long left = DRAIN_LIMIT;
        try {
            int n;
            while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
                left -= n;
            }
        } catch (IOException | RuntimeException e) {
            // the client went away or the body ended badly: nothing left to protect
        }
    }

    /** The request with its body stream counted against the cap. */
    private static final class Capped extends HttpServletRequestWrapper {

        private final long max;
        private Counting in;

        Capped(HttpServletRequest request, long max) {
            super(request);
            this.max = max;
        }

        @Override
        public ServletInputStream getInputStream() throws IOException {
            if (in == null) {
                in = new Counting(super.getInputStream(), max);
            }
            return in;
        }

        @Override
        public BufferedReader getReader() throws IOException {
            String enc = getCharacterEncoding();
            Charset cs;
            try {
                cs = enc == null ? StandardCharsets.UTF_8 : Charset.forName(enc);
            } catch (IllegalArgumentException e) {
                // What the servlet container itself throws for a charset it does not know: a client error.
                throw new UnsupportedEncodingException(enc);
            }
            return new BufferedReader(new InputStreamReader(getInputStream(), cs));
        }
    }

    private static final class Counting extends ServletInputStream {

        private final ServletInputStream in;
        private final long max;
        private long count;
        private boolean tripped;

        Counting(ServletInputStream in, long max) {
            this.in = in;
            this.max = max;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                add(1);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                add(n);
            }
            return n;
        }

        private void add(int n) {
            count += n;
            if (count > max) {
                tripped = true;
                throw new TooLarge(max);
            }
        }

        @Override
        public boolean isFinished() {
            return in.isFinished();
        }

        @Override
        public boolean isReady() {
            return in.isReady();
        }

        @Override
        public void setReadListener(ReadListener listener) {
            in.setReadListener(listener);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
