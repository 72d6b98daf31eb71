package dev.reftserver.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.engine.Scheduler;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/** A client that leaves an SSE stream midway frees its engine row at once, long before max_tokens. */
@ExtendWith(OutputCaptureExtension.class)
class StreamingDisconnectTest extends ServingTestSupport {

    private static final String PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play"
            + " outside in the sunshine with her dog, and every day they went to the park together.";

    @Autowired
    Scheduler scheduler;

    @Autowired
    MeterRegistry meters;

    @Test
    void closingTheConnectionMidStreamCancelsTheRow(CapturedOutput output) throws Exception {
        String key = newTenant("stream-leaver");
        double cancelledBefore = cancelledRows();
        byte[] body = completionBody(BASE_MODEL, PROMPT, 200, true).getBytes(StandardCharsets.UTF_8);
        List<String> chunks = new ArrayList<>();
        int runningWhileStreaming;
        try (Socket socket = new Socket("localhost", port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\n"
                    + "Host: localhost:" + port + "\r\n"
                    + "Authorization: Bearer " + key + "\r\n"
                    + "Content-Type: application/json\r\n"
                    + "Accept: text/event-stream\r\n"
                    + "Content-Length: " + body.length + "\r\n"
                    + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(),
                    StandardCharsets.UTF_8));
            String status = in.readLine();
            assertThat(status).startsWith("HTTP/1.1 200");
            // chunked transfer coding: size lines and blank lines interleave with the events' lines
            String line;
            while (chunks.size() < 3 && (line = in.readLine()) != null) {
                if (line.startsWith("data: ")) {
                    chunks.add(line);
                }
            }
            runningWhileStreaming = scheduler.runningRows();
        }
        assertThat(chunks).hasSize(3).noneMatch(c -> c.contains("[DONE]"));
        assertThat(runningWhileStreaming).isEqualTo(1);

        long deadline = System.nanoTime() + 5_000_000_000L;
        while (scheduler.runningRows() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(scheduler.runningRows()).as("rows running 5 s after the client left").isZero();
        // the row ended because it was cancelled, not because it ran out of tokens
        assertThat(cancelledRows()).isEqualTo(cancelledBefore + 1);
        // a client leaving is no server failure: the failed write is not logged as one
        Thread.sleep(300);
        assertThat(output.getAll()).doesNotContain("unexpected failure").doesNotContain("Broken pipe");
    }

    private double cancelledRows() {
        Counter c = meters.find("reft.rows.finished").tag("reason", "cancelled").counter();
        return c == null ? 0 : c.count();
    }
}
