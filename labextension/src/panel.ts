/**
 * The Tokens panel: the APIs the user may ask for (each scope granted or not, and the role it
 * needs), the tokens this server holds (a live countdown), mint and forget, and an inspector
 * that decodes a token here and sends it nowhere.
 */
import { Widget } from '@lumino/widgets';

import {
  BrokerError,
  forget,
  IApi,
  IHeld,
  IListing,
  IMinted,
  IScope,
  listing,
  mint
} from './api';
import { decode, shown } from './jwt';

/** How often the listing is read again while the panel is shown, and the countdown ticks. */
const RELOAD_MS = 30_000;
const TICK_MS = 1_000;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: { [name: string]: string } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function table(
  head: string[],
  rows: (Node | string)[][],
  label: string,
  widths: string[] = []
): HTMLTableElement {
  const headings = head.map((h, i) => element('th', widths[i] ? { style: `width: ${widths[i]}` } : {}, h));
  return element(
    'table',
    { class: 'jp-hubtokens-table', 'aria-label': label },
    element('thead', {}, element('tr', {}, ...headings)),
    element(
      'tbody',
      {},
      ...rows.map(row => element('tr', {}, ...row.map(cell => element('td', {}, cell))))
    )
  );
}

/** What to ask an admin for: a group that has the scope's role. */
export function notGranted(scope: IScope): string {
  const groups = scope.groups ?? [];
  return groups.length
    ? `not granted: ask an admin to add you to ${groups.join(' or ')} (role ${scope.role})`
    : `not granted: ask an admin for a group with role ${scope.role}`;
}

export function countdown(expiresAt: string, now: number = Date.now()): string {
  const left = Math.round((Date.parse(expiresAt) - now) / 1000);
  if (left <= 0) {
    return 'expired';
  }
  return `${Math.floor(left / 60)}m ${String(left % 60).padStart(2, '0')}s`;
}

export class TokensPanel extends Widget {
  private readonly status = element('div', { class: 'jp-hubtokens-status', role: 'status' });
  private readonly apis = element('section', { 'aria-label': 'APIs you may ask for' });
  private readonly held = element('section', { 'aria-label': 'Tokens this server holds' });
  private readonly minter = element('section', { 'aria-label': 'Mint a token' });
  private readonly inspector = element('section', { 'aria-label': 'Token inspector' });
  private current: IListing | null = null;
  private reloadTimer = 0;
  private tickTimer = 0;

  constructor() {
    super();
    this.id = 'hubtokens-panel';
    this.addClass('jp-hubtokens-panel');
    this.title.caption = 'Tokens: the APIs you may call as yourself';
    const forgetButton = element(
      'button',
      { class: 'jp-mod-styled jp-mod-reject', type: 'button' },
      'Forget cached tokens'
    );
    forgetButton.addEventListener('click', () => void this.forget());
    this.node.append(
      element('h2', {}, 'Tokens'),
      this.status,
      element('h3', {}, 'APIs you may ask for'),
      this.apis,
      element('h3', {}, 'Tokens this server holds'),
      this.held,
      forgetButton,
      element('h3', {}, 'Mint a token'),
      this.minter,
      this.inspector
    );
  }

  protected onAfterShow(): void {
    void this.reload();
    this.reloadTimer = window.setInterval(() => void this.reload(), RELOAD_MS);
    this.tickTimer = window.setInterval(() => this.tick(), TICK_MS);
  }

  protected onAfterHide(): void {
    window.clearInterval(this.reloadTimer);
    window.clearInterval(this.tickTimer);
  }

  dispose(): void {
    window.clearInterval(this.reloadTimer);
    window.clearInterval(this.tickTimer);
    super.dispose();
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('jp-hubtokens-error', error);
  }

  private fail(error: unknown): void {
    if (error instanceof BrokerError) {
      this.say(`${error.code}: ${error.message}`, true);
    } else {
      this.say(String(error), true);
    }
  }

  async reload(): Promise<void> {
    try {
      this.current = await listing();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.renderApis(this.current);
    this.renderHeld(this.current.held);
    if (!this.minter.hasChildNodes()) {
      this.renderMinter(this.current);
    }
  }

  private renderApis(current: IListing): void {
    const apis = Object.entries(current.audiences);
    if (!apis.length) {
      this.apis.replaceChildren('No API is registered for this hub.');
      return;
    }
    this.apis.replaceChildren(
      ...apis.flatMap(([audience, api]) => [
        element('h4', {}, audience),
        element('p', { class: 'jp-hubtokens-description' }, api.description),
        table(
          ['scope', 'for you'],
          Object.entries(api.scopes).map(([name, scope]) => [
            element('code', {}, name),
            scope.granted === true
              ? element('span', { class: 'jp-hubtokens-granted' }, 'granted')
              : scope.granted === false
                ? element('span', { class: 'jp-hubtokens-not-granted' }, notGranted(scope))
                : 'no role needed'
          ]),
          `Scopes of ${audience}`,
          ['42%', '58%']
        )
      ])
    );
  }

  private renderHeld(held: IHeld[]): void {
    const rows = held.map(token => [
      element(
        'span',
        {},
        element('strong', {}, token.audience),
        element('br'),
        element('code', {}, token.scope || '-')
      ),
      new Date(Date.parse(token.minted_at)).toLocaleTimeString(),
      element(
        'span',
        { class: 'jp-hubtokens-countdown', 'data-expires-at': token.expires_at },
        countdown(token.expires_at)
      )
    ]);
    this.held.replaceChildren(
      rows.length
        ? table(['token', 'minted', 'expires in'], rows, 'Tokens this server holds', [
            '46%',
            '27%',
            '27%'
          ])
        : 'None: code in this server has not asked for a token lately.'
    );
  }

  private tick(): void {
    this.node.querySelectorAll<HTMLElement>('[data-expires-at]').forEach(node => {
      node.textContent = countdown(node.dataset.expiresAt ?? '');
    });
  }

  private renderMinter(current: IListing): void {
    const audience = element('select', { 'aria-label': 'API' });
    const scopes = element('fieldset', { class: 'jp-hubtokens-scopes' });
    const apis = Object.entries(current.audiences);
    for (const [name] of apis) {
      audience.append(element('option', { value: name }, name));
    }
    const showScopes = (): void => {
      const api: IApi | undefined = current.audiences[audience.value];
      scopes.replaceChildren(element('legend', {}, 'Scopes'));
      for (const [name, scope] of Object.entries(api?.scopes ?? {})) {
        const box = element('input', { type: 'checkbox', value: name, id: `hubtokens-${name}` });
        box.checked = scope.granted !== false;
        scopes.append(
          element('label', { for: `hubtokens-${name}` }, box, ` ${name}`),
          element('br')
        );
      }
    };
    audience.addEventListener('change', showScopes);
    showScopes();
    const button = element('button', { class: 'jp-mod-styled jp-mod-accept', type: 'button' }, 'Mint');
    button.addEventListener('click', () => {
      const chosen = Array.from(
        scopes.querySelectorAll<HTMLInputElement>('input:checked'),
        box => box.value
      );
      void this.mint(audience.value, chosen.join(' '));
    });
    this.minter.replaceChildren(audience, scopes, button);
  }

  async mint(audience: string, scope: string): Promise<void> {
    this.say(`Asking the hub for a token for ${audience}...`);
    let minted: IMinted;
    try {
      minted = await mint(audience, scope);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.say(`Minted a token for ${minted.audience} (${minted.scope}).`);
    this.inspect(minted);
    await this.reload();
  }

  /** The token's header and claims, decoded here; the token itself is not shown. */
  inspect(minted: IMinted): void {
    let decoded;
    try {
      decoded = decode(minted.access_token);
    } catch (error) {
      this.fail(error);
      return;
    }
    const rows: (Node | string)[][] = [];
    for (const [name, value] of Object.entries(decoded.header)) {
      rows.push(['header', name, shown(name, value)]);
    }
    for (const [name, value] of Object.entries(decoded.claims)) {
      rows.push(['claim', name, shown(name, value)]);
    }
    this.inspector.replaceChildren(
      element('h3', {}, 'Inspector'),
      element(
        'p',
        {},
        'Decoded in your browser, not verified, sent nowhere; the signature is not shown. ',
        element(
          'span',
          {},
          'Expires in ',
          element(
            'span',
            { class: 'jp-hubtokens-countdown', 'data-expires-at': minted.expires_at },
            countdown(minted.expires_at)
          ),
          '.'
        )
      ),
      table(['part', 'name', 'value'], rows, 'Token inspector', ['22%', '20%', '58%'])
    );
  }

  async forget(): Promise<void> {
    try {
      const answer = await forget();
      this.say(`The hub forgot ${answer.forgotten} cached token(s) of this server.`);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.inspector.replaceChildren();
    await this.reload();
  }
}
