/**
 * hubtokens-panel: the Tokens panel in JupyterLab's and Notebook 7's left side bar.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { TokensPanel } from './panel';

/** A key: the panel's tab in the side bar. */
const keyIcon = new LabIcon({
  name: 'hubtokens:key',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" ' +
    'fill="#616161" d="M7 14a2 2 0 1 1 0-4 2 2 0 0 1 0 4zm5.65-4A6 6 0 1 0 12.65 14H17v4h4v-4h2' +
    'v-4H12.65z"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'hubtokens-panel:plugin',
  description: 'The APIs you may call as yourself, the tokens your server holds, an inspector.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new TokensPanel();
    panel.title.icon = keyIcon;
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, panel.id);
    }
  }
};

export default plugin;
