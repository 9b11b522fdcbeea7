import type { DlpScannerConfig } from '../config.js';
import { cardDetector } from './cards.js';
import { ibanDetector } from './iban.js';
import { secretsDetector } from './secrets.js';
import { ssnDetector } from './ssn.js';
import type { DetectorFamily } from './types.js';

/** The enabled built-in detector families, one pass over the text each. */
export function builtinDetectors(detectors: DlpScannerConfig['detectors']): DetectorFamily[] {
  const families: DetectorFamily[] = [];
  if (detectors['pci.card'].enabled) families.push(cardDetector());
  if (detectors.iban.enabled) families.push(ibanDetector());
  if (detectors['us.ssn'].enabled)
    families.push(ssnDetector({ excludeTestNumbers: detectors['us.ssn'].excludeTestNumbers }));
  const secrets = secretsDetector();
  if (secrets.rules.some((id) => detectors[id as keyof typeof detectors].enabled)) families.push(secrets);
  return families;
}
