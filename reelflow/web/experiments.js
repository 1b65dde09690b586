// Experiments in the player (docs/experiments.md). The playback start's answer carries the
// viewer's variants, `experiments: {<key>: {variant, config}}`; a config's "abr" part tunes
// Shaka's ABR and buffering through the settings below, and through nothing else. The API
// refuses a definition naming any other setting or a value out of range
// (reelflow/experiments/player_config.py holds the same table; tests/web/test_experiments.py
// compares the two); the player checks again and ignores whatever fails, so no variant
// config can reach Shaka beyond this list. Without experiments nothing here is configured.

// name: [Shaka configuration path, lowest, highest]
export const ABR_SETTINGS = Object.freeze({
  defaultBandwidthEstimate: ['abr.defaultBandwidthEstimate', 5e4, 1e9],
  bandwidthUpgradeTarget: ['abr.bandwidthUpgradeTarget', 0.05, 1],
  bandwidthDowngradeTarget: ['abr.bandwidthDowngradeTarget', 0.05, 1],
  switchInterval: ['abr.switchInterval', 0, 60],
  fastHalfLife: ['abr.advanced.fastHalfLife', 0.1, 60],
  slowHalfLife: ['abr.advanced.slowHalfLife', 0.1, 120],
  minBandwidth: ['abr.restrictions.minBandwidth', 0, 1e9],
  maxBandwidth: ['abr.restrictions.maxBandwidth', 5e4, 1e9],
  maxHeight: ['abr.restrictions.maxHeight', 144, 4320],
  bufferingGoal: ['streaming.bufferingGoal', 2, 120],
  rebufferingGoal: ['streaming.rebufferingGoal', 0, 30],
});

// Pairs that must stay in order: [lower, higher, Shaka's default of each].
export const ORDERED = Object.freeze([
  ['bandwidthUpgradeTarget', 'bandwidthDowngradeTarget', 0.85, 0.95],
  ['fastHalfLife', 'slowHalfLife', 2, 5],
  ['minBandwidth', 'maxBandwidth', 0, Infinity],
  ['rebufferingGoal', 'bufferingGoal', 0, 10],
]);

function inRange(name, value) {
  const rule = Object.hasOwn(ABR_SETTINGS, name) ? ABR_SETTINGS[name] : null; // not 'toString'
  return rule !== null && typeof value === 'number' && Number.isFinite(value) &&
    value >= rule[1] && value <= rule[2];
}

function setPath(target, path, value) {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts[parts.length - 1]] = value;
}

// One variant's "abr" part: the settings that pass, and the names that did not.
function checked(abr) {
  const settings = {};
  const ignored = [];
  for (const [name, value] of Object.entries(abr)) {
    if (inRange(name, value)) settings[name] = value;
    else ignored.push(name);
  }
  for (const [lower, higher, lowDefault, highDefault] of ORDERED) {
    if (!(lower in settings || higher in settings)) continue;
    if ((settings[lower] ?? lowDefault) > (settings[higher] ?? highDefault)) {
      for (const name of [lower, higher]) {
        if (name in settings) ignored.push(name);
        delete settings[name];
      }
    }
  }
  return { settings, ignored };
}

// The Shaka configuration the viewer's variants ask for (null: none), what each experiment
// applied, and what was ignored ("<experiment>.<setting>"). Experiments are taken in key
// order; a setting an earlier one set is not set again (layers keep two ABR tests apart,
// so this only happens when an admin put them in different layers).
export function experimentConfig(experiments) {
  const config = {};
  const applied = [];
  const ignored = [];
  const taken = new Set();
  for (const key of Object.keys(experiments || {}).sort()) {
    const { variant, config: variantConfig } = experiments[key] || {};
    const abr = variantConfig?.abr;
    if (abr == null) continue;
    if (typeof abr !== 'object' || Array.isArray(abr)) {
      ignored.push(`${key}.abr`);
      continue;
    }
    const { settings, ignored: refused } = checked(abr);
    ignored.push(...refused.map((name) => `${key}.${name}`));
    for (const [name, value] of Object.entries(settings)) {
      if (taken.has(name)) {
        ignored.push(`${key}.${name}`);
        delete settings[name];
        continue;
      }
      taken.add(name);
      setPath(config, ABR_SETTINGS[name][0], value);
    }
    applied.push({ experiment: key, variant, settings });
  }
  return { config: taken.size ? config : null, applied, ignored };
}
