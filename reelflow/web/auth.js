// The viewer's token lives in sessionStorage: this tab only, gone when it closes.
// The device id is not a secret and persists, so a reload is the same device. The API
// lets a start take over a device's live stream lease only when it names the session it
// replaces, so the device also remembers its last session id (a reload or a second tab
// replaces that session instead of counting as a second stream, or being refused).

const AUTH_KEY = 'reelflow.auth';
const DEVICE_KEY = 'reelflow.device';
const LAST_SESSION_KEY = 'reelflow.lastSession';

// A JSON value kept in sessionStorage under one key (this tab only): the viewer's sign-in
// here, the admin console's in admin-api.js.
export function tabStore(key) {
  return {
    get() {
      try {
        return JSON.parse(sessionStorage.getItem(key));
      } catch {
        return null;
      }
    },
    set(value) { sessionStorage.setItem(key, JSON.stringify(value)); },
    clear() { sessionStorage.removeItem(key); },
  };
}

const viewerAuth = tabStore(AUTH_KEY);
export const getAuth = () => viewerAuth.get();

export function getToken() {
  return getAuth()?.token ?? null;
}

export const setAuth = (auth) => viewerAuth.set(auth);

export const clearAuth = () => viewerAuth.clear();

// Claims for display only (sub, plan, country); the API verifies the token itself.
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

export function lastSessionId() {
  return localStorage.getItem(LAST_SESSION_KEY);
}

export function rememberSession(sessionId) {
  localStorage.setItem(LAST_SESSION_KEY, sessionId);
}
