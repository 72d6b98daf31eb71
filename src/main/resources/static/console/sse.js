// Server-Sent Events over fetch, so a POST with a bearer header can stream (EventSource can do neither).

/**
 * Reads {@code response}'s body as SSE and calls {@code onData} with each event's data (the joined `data:`
 * lines); comments (keep-alives) are skipped. Resolves when the stream ends.
 */
export async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, {stream: true}).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').filter(l => l.startsWith('data:'))
          .map(l => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n');
      if (data) {
        onData(data);
      }
    }
  }
}
