import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  isHostname,
  normalizeDomain,
  RateControlDomainParamDto,
} from 'src/modules/rate-control/dto/rate-control-domain.dto';
import { RateControlPauseDto } from 'src/modules/rate-control/dto/rate-control-pause.dto';

describe('rate-control domain DTOs', () => {
  describe(normalizeDomain.name, () => {
    it('trims and lower-cases', () => {
      expect(normalizeDomain('  Mail.Example.COM ')).toBe('mail.example.com');
    });
  });

  describe(isHostname.name, () => {
    it.each(['gmail.com', 'a.b-c.d', 'xn--bcher-kva.example', 'localhost', '1.2.3.4', 'a'])(
      'accepts %s',
      (value) => {
        expect(isHostname(value)).toBe(true);
      },
    );

    it.each([
      ['empty', ''],
      ['a space', 'bad domain.com'],
      ['an underscore', 'bad_domain.com'],
      ['a leading hyphen in a label', '-x.com'],
      ['a trailing hyphen in a label', 'x-.com'],
      ['an empty label', 'a..b'],
      ['a leading dot', '.a.com'],
      ['a trailing dot', 'a.com.'],
      ['an @', 'ann@example.com'],
      ['a colon', 'example.com:25'],
      ['upper case (callers normalise first)', 'Example.com'],
      ['a 64-character label', `${'a'.repeat(64)}.com`],
      ['254 characters', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`],
      ['a number', 42],
      ['null', null],
    ])('rejects %s', (_label, value) => {
      expect(isHostname(value)).toBe(false);
    });

    it('accepts exactly 253 characters', () => {
      const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
      expect(name).toHaveLength(253);
      expect(isHostname(name)).toBe(true);
    });
  });

  describe(RateControlDomainParamDto.name, () => {
    it('normalises the domain before validating it', () => {
      const dto = plainToInstance(RateControlDomainParamDto, { domain: ' GMail.Com ' });
      expect(validateSync(dto)).toEqual([]);
      expect(dto.domain).toBe('gmail.com');
    });

    it('rejects a value that is not a hostname, naming the field', () => {
      const dto = plainToInstance(RateControlDomainParamDto, { domain: 'not a domain' });
      const errors = validateSync(dto);
      expect(errors.map((e) => e.property)).toEqual(['domain']);
      expect(Object.values(errors[0].constraints ?? {})).toEqual([
        expect.stringContaining('hostname'),
      ]);
    });
  });

  describe(RateControlPauseDto.name, () => {
    it('allows no domain (all sending)', () => {
      expect(validateSync(plainToInstance(RateControlPauseDto, {}))).toEqual([]);
    });

    it.each([[''], ['  '], [123], [['gmail.com']], ['gmail.com/x']])('rejects %j', (domain) => {
      const errors = validateSync(plainToInstance(RateControlPauseDto, { domain }));
      expect(errors.map((e) => e.property)).toEqual(['domain']);
    });
  });
});
