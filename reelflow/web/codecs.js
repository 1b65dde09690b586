// Which video codec plays when a package carries ladders of several (issue 14): AV1 first,
// H.264 as the fallback. Shaka drops the variants this browser cannot decode (it asks
// MediaCapabilities, with the key system) before it applies the preference, so a browser
// without AV1 (or without it under this DRM) plays the H.264 ladder.
export const VIDEO_CODEC_PREFERENCE = ['av01', 'avc1'];

export function codecConfig() {
  return { preferredVideo: VIDEO_CODEC_PREFERENCE.map((codec) => ({ codec })) };
}
