import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser, type SseMessage } from '../src/sse/parser';

function parse(chunks: string[], lastEventId = ''): { messages: SseMessage[]; retries: number[]; parser: SseParser } {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const parser = new SseParser({ onMessage: (m) => messages.push(m), onRetry: (ms) => retries.push(ms) }, lastEventId);
  for (const c of chunks) parser.push(c);
  return { messages, retries, parser };
}

describe('SseParser', () => {
  it('dispatches named events with their id, skipping comments', () => {
    const { messages, parser } = parse([': stream open\n\n', 'id: 1-0\nevent: job\ndata: {"a":1}\n\n']);
    assert.deepEqual(messages, [{ type: 'job', data: '{"a":1}', lastEventId: '1-0' }]);
    assert.equal(parser.eventId, '1-0');
  });

  it('joins data lines, defaults the type to message, strips one leading space only', () => {
    const { messages } = parse(['data:  a\ndata:b\n\n']);
    assert.deepEqual(messages, [{ type: 'message', data: ' a\nb', lastEventId: '' }]);
  });

  it('handles CRLF, CR and LF line ends, also split across chunks', () => {
    const { messages } = parse(['event: log\r', '\ndata: x\r\r', 'data: y\n', '\n', 'data: z\r\n\r\n']);
    assert.deepEqual(
      messages.map((m) => [m.type, m.data]),
      [
        ['log', 'x'],
        ['message', 'y'],
        ['message', 'z'],
      ],
    );
  });

  it('keeps the last id for events without one (the batch id rides on the last line), and the initial id', () => {
    const { messages } = parse(['event: log\ndata: 1\n\nevent: log\ndata: 2\nid: 5-1\n\nevent: log\ndata: 3\n\n'], '4-0');
    assert.deepEqual(
      messages.map((m) => m.lastEventId),
      ['4-0', '5-1', '5-1'],
    );
  });

  it('does not dispatch an event without data, nor an unterminated one; ignores an id with NUL', () => {
    const { messages, parser } = parse(['event: ping\n\n', 'id: a\0b\ndata: x\n\n', 'data: partial']);
    assert.deepEqual(messages, [{ type: 'message', data: 'x', lastEventId: '' }]);
    parser.reset();
    parser.push('\n');
    assert.equal(messages.length, 1);
  });

  it('reports retry when it is a number', () => {
    const { retries } = parse(['retry: 2500\nretry: soon\n\n']);
    assert.deepEqual(retries, [2500]);
  });

  it('splits a multi-byte-free stream at any point with the same result', () => {
    const text = 'id: 1-0\nevent: job\ndata: {"jobId":"j","x":"a:b"}\n\n: keep-alive\n\nid: 2-0\nevent: log\ndata: {"t":"\\u00e9"}\n\n';
    const whole = parse([text]).messages;
    for (let i = 1; i < text.length; i++) assert.deepEqual(parse([text.slice(0, i), text.slice(i)]).messages, whole);
  });
});
