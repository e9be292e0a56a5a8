// The page's shared state: one session at a time and its forwards.

export const state = {
  session: null, // the tunnelkit session while connected
  target: null, // {host, port, user, relay}
  forwards: new Map(), // id -> forward view (forwards.js)
  nextId: 1,
  userClosed: false, // Disconnect was pressed: the end is not an error
};
