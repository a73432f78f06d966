/**
 * The Tokens panel's calls to its own Jupyter server (userserver.handlers): the server asks
 * the hub's broker with its own API token, which the browser never receives. Requests go
 * through JupyterLab's ServerConnection: the server's login and XSRF token, nothing else.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IScope {
  description: string;
  role: string;
  /** The groups that have the role: the ones to ask an admin for. */
  groups: string[];
  granted: boolean | null;
}

export interface IApi {
  description: string;
  scopes: { [name: string]: IScope };
  token_files: { [file: string]: string[] };
}

export interface IHeld {
  audience: string;
  scope: string;
  minted_at: string;
  expires_at: string;
}

export interface IListing {
  audiences: { [audience: string]: IApi };
  held: IHeld[];
}

export interface IMinted {
  access_token: string;
  audience: string;
  scope: string;
  expires_at: string;
}

/** The broker's error: its code and its message (what happened, what to do). */
export class BrokerError extends Error {
  constructor(
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

async function call<T>(method: string, body?: unknown): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'hubtokens', 'tokens');
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new BrokerError('unreachable', `Your server did not answer: ${error}`);
  }
  const text = await response.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: 'error', message: text.slice(0, 200) };
  }
  if (!response.ok) {
    throw new BrokerError(
      data.error ?? `http_${response.status}`,
      data.message ?? `HTTP ${response.status}`
    );
  }
  return data as T;
}

export const listing = (): Promise<IListing> => call<IListing>('GET');
export const mint = (audience: string, scope: string): Promise<IMinted> =>
  call<IMinted>('POST', { audience, scope });
export const forget = (): Promise<{ forgotten: number }> => call('DELETE');
