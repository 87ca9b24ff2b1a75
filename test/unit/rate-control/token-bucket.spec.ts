import type Redis from 'ioredis';
import { parseFactor, RedisScript } from 'src/modules/rate-control/token-bucket';

describe(RedisScript.name, () => {
  const script = new RedisScript('return 1');

  function clientWith(evalsha: jest.Mock, evalFn: jest.Mock): Redis {
    return { evalsha, eval: evalFn } as unknown as Redis;
  }

  it('identifies the script by the SHA-1 of its source, as SCRIPT LOAD does', () => {
    expect(script.sha).toBe('e0e1f9fabfc9d4800c877a703b823ac0578ff8db');
  });

  describe('run', () => {
    it('runs the cached script by its SHA', async () => {
      const evalsha = jest.fn().mockResolvedValue(7);
      const evalFn = jest.fn();
      await expect(script.run(clientWith(evalsha, evalFn), ['k1', 'k2'], [3, 'x'])).resolves.toBe(
        7,
      );
      expect(evalsha).toHaveBeenCalledWith(script.sha, 2, 'k1', 'k2', 3, 'x');
      expect(evalFn).not.toHaveBeenCalled();
    });

    it('falls back to EVAL with the source when Redis answers NOSCRIPT', async () => {
      const evalsha = jest
        .fn()
        .mockRejectedValue(new Error('NOSCRIPT No matching script. Please use EVAL.'));
      const evalFn = jest.fn().mockResolvedValue(1);
      await expect(script.run(clientWith(evalsha, evalFn), ['k'], [5])).resolves.toBe(1);
      expect(evalFn).toHaveBeenCalledWith('return 1', 1, 'k', 5);
    });

    it('rethrows any other error (Redis down must not look like success)', async () => {
      const evalsha = jest.fn().mockRejectedValue(new Error('Connection is closed.'));
      const evalFn = jest.fn();
      await expect(script.run(clientWith(evalsha, evalFn), ['k'], [])).rejects.toThrow(
        'Connection is closed.',
      );
      expect(evalFn).not.toHaveBeenCalled();
    });
  });
});

describe(parseFactor.name, () => {
  it.each([
    [null, 1],
    ['0.5', 0.5],
    ['0.25', 0.25],
    ['1', 1],
    ['0.01', 0.1],
    ['0', 1],
    ['-2', 1],
    ['garbage', 1],
  ])('reads %j as %d', (raw, expected) => {
    expect(parseFactor(raw)).toBe(expected);
  });
});
