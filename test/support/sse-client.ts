/** One Server-Sent Event as received: `id` is '' when the event carried none (the last id still holds). */
export interface ReceivedEvent {
  id: string;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/**
 * Reads `text/event-stream` events (WHATWG HTML, "Server-sent events": blocks end with a blank
 * line) from `url` with fetch until `until` says stop, the server ends the stream, or the timeout
 * passes. Only events with a `data:` line are returned; `data` is parsed as JSON.
 * @throws (a failed expectation) when the answer is not a 200 event stream.
 */
export async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (events: ReceivedEvent[]) => boolean,
  timeoutMs = 20_000,
): Promise<ReceivedEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: ReceivedEvent[] = [];
  try {
    const res = await fetch(url, { headers, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += Buffer.from(value).toString('utf8');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data === undefined) continue;
        events.push({ id: /^id: (.*)$/m.exec(block)?.[1] ?? '', event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message', data: JSON.parse(data) });
      }
      if (until(events)) break;
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}
