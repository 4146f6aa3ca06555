/** `MONGODB_URI`: a server the user runs (a real MongoDB, Atlas, a container); never started or stopped here. */
import { mongoAnswers } from '../probes';
import { log } from '../util';
import type { Availability, MongoProvider, Started } from './types';

export const uriProvider: MongoProvider = {
  name: 'uri',
  title: 'the server at MONGODB_URI',
  async available(): Promise<Availability> {
    return process.env.MONGODB_URI ? { ok: true, detail: 'MONGODB_URI is set' } : { ok: false, reason: 'MONGODB_URI is not set' };
  },
  async start(): Promise<Started> {
    const uri = process.env.MONGODB_URI!;
    if (!(await mongoAnswers(uri))) log('warning: MONGODB_URI does not answer ping (using it anyway)');
    return { mongo: { uri, origin: 'external', provider: 'uri' } };
  },
  async stop(): Promise<void> {
    /* not ours */
  },
};
