import { readFileSync } from 'node:fs';
import path from 'node:path';
import { classifyBounce } from 'src/modules/webhooks/bounce-classifier';

/** shared/ lies beside the repository clone (locally and in CI). */
const CORPUS = path.join(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'shared',
  'corpus',
  'bounces.dev.jsonl',
);

/** Postal cuts `output` (and `details`) to 250 characters (SPEC §7). */
const POSTAL_OUTPUT_LIMIT = 250;

interface CorpusBounce {
  diagnostic: string;
  hard: boolean;
}

function loadCorpus(): CorpusBounce[] {
  return readFileSync(CORPUS, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as CorpusBounce);
}

describe('classifyBounce on the labelled bounce corpus', () => {
  it('keeps accuracy high and rarely calls a live address hard', () => {
    const samples = loadCorpus();
    let correct = 0;
    let soft = 0;
    let falseHard = 0;
    for (const sample of samples) {
      const { bounce_type } = classifyBounce({
        output: sample.diagnostic.slice(0, POSTAL_OUTPUT_LIMIT),
      });
      const expected = sample.hard ? 'hard' : 'soft';
      if (bounce_type === expected) correct += 1;
      if (!sample.hard) {
        soft += 1;
        if (bounce_type === 'hard') falseHard += 1;
      }
    }
    const accuracy = correct / samples.length;
    const falseHardRate = falseHard / soft;

    console.log(
      `bounce corpus: n=${samples.length} accuracy=${accuracy.toFixed(3)} false_hard_rate=${falseHardRate.toFixed(3)}`,
    );
    expect(samples.length).toBeGreaterThan(0);
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    expect(falseHardRate).toBeLessThanOrEqual(0.05);
  });
});
