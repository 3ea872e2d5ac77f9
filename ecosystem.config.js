// PM2 development setup: `pm2 start ecosystem.config.js` runs the auto-scaler and one warmup
// worker; the auto-scaler then adds and removes workers with `pm2 scale warmup-worker N`.
//
// Both apps run the project's console script from its virtualenv, .venv/bin/warmup-autoscaler
// (create it first with `make install`), directly: `interpreter: 'none'` stops PM2 from handing
// the script to node. Settings come from .env in this folder, like every other setup.
//
// PM2 stops a process with SIGINT (not SIGTERM, unless the PM2 daemon was started with
// PM2_KILL_SIGNAL=SIGTERM), then SIGKILL after the app's `kill_timeout`.
const path = require('path');

const warmupAutoscaler = path.join(__dirname, '.venv', 'bin', 'warmup-autoscaler');

module.exports = {
  apps: [
    {
      name: 'auto-scaler',
      script: warmupAutoscaler,
      args: 'run',
      interpreter: 'none',
      cwd: __dirname,
      env: {
        AUTO_SCALER_PLATFORM: 'command',
        AUTO_SCALER_SCALE_COMMAND: 'pm2 scale warmup-worker {replicas}',
        // AUTO_SCALER_CURRENT_WORKERS_COMMAND is left unset: the current count is the number of
        // live workers in the worker registry (each `warmup-autoscaler worker` registers itself).
      },
      kill_timeout: 10000,
    },
    {
      name: 'warmup-worker',
      script: warmupAutoscaler,
      args: 'worker',
      interpreter: 'none',
      cwd: __dirname,
      exec_mode: 'fork',
      instances: 1,
      // Workers never need the auto-scaler's admin token: empty here, it also hides one in .env.
      env: {
        AUTO_SCALER_ADMIN_TOKEN: '',
      },
      // Longer than the worker's 25 s drain, so a scale-down never cuts a warmup cycle short.
      kill_timeout: 30000,
    },
  ],
};
