//! Every change the upgrade makes to the host through dokku, by name. Steps and undo entries say
//! what changes; this file alone says which command makes it and with which flags
//! (docs/dokku-host.md, docs/dokku-postgres-service.md#commands).

use crate::host::runner::Cmd;
use crate::host::{Host, ServiceSettings};

pub enum Change<'a> {
    /// A new service with the old one's settings; `config_options` and `custom_env` as the run
    /// was given them. The custom env may hold secrets: it goes in `POSTGRES_CUSTOM_ENV`, which
    /// dokku-postgres's create reads when `--custom-env` is not given (its `service_commit_config`),
    /// never on the command line.
    CreateService {
        service: &'a str,
        image: &'a str,
        version: &'a str,
        settings: &'a ServiceSettings,
        config_options: &'a str,
        custom_env: &'a str,
    },
    DestroyService(&'a str),
    StartService(&'a str),
    /// Stop and start: what makes a server read a setting that needs a restart.
    RestartService(&'a str),
    LockApp(&'a str),
    UnlockApp(&'a str),
    MaintenanceOn(&'a str),
    MaintenanceOff(&'a str),
    StopApp(&'a str),
    StartApp(&'a str),
    RestartApp(&'a str),
    Backup {
        service: &'a str,
        bucket: &'a str,
        use_iam: bool,
    },
    BackupSchedule {
        service: &'a str,
        when: &'a str,
        bucket: &'a str,
        use_iam: bool,
    },
    BackupPublicKey {
        service: &'a str,
        key_id: &'a str,
    },
    BackupUnschedule(&'a str),
}

impl Host<'_> {
    /// The command that makes `change`.
    pub fn change(&self, change: Change) -> Cmd {
        let iam = |cmd: Cmd, use_iam: bool| if use_iam { cmd.arg("--use-iam") } else { cmd };
        match change {
            Change::CreateService { service, image, version, settings, config_options, custom_env } => {
                let mut cmd = self.dokku(&["postgres:create", service, "--image", image, "--image-version", version]);
                if !config_options.is_empty() {
                    cmd = cmd.arg("--config-options").arg(config_options);
                }
                if !custom_env.is_empty() {
                    cmd = cmd.secret_env("POSTGRES_CUSTOM_ENV", custom_env);
                }
                for (flag, value) in [
                    ("--shm-size", &settings.shm_size),
                    ("--memory", &settings.memory),
                    ("--initial-network", &settings.initial_network),
                    ("--post-create-network", &settings.post_create_network),
                    ("--post-start-network", &settings.post_start_network),
                ] {
                    if !value.is_empty() {
                        cmd = cmd.arg(flag).arg(value.clone());
                    }
                }
                cmd
            }
            Change::DestroyService(service) => self.dokku(&["postgres:destroy", service, "-f"]),
            Change::StartService(service) => self.dokku(&["postgres:start", service]),
            Change::RestartService(service) => self.dokku(&["postgres:restart", service]),
            Change::LockApp(app) => self.dokku(&["apps:lock", app]),
            Change::UnlockApp(app) => self.dokku(&["apps:unlock", app]),
            Change::MaintenanceOn(app) => self.dokku(&[self.maintenance_command(true), app]),
            Change::MaintenanceOff(app) => self.dokku(&[self.maintenance_command(false), app]),
            Change::StopApp(app) => self.dokku(&["ps:stop", app]),
            Change::StartApp(app) => self.dokku(&["ps:start", app]),
            Change::RestartApp(app) => self.dokku(&["ps:restart", app]),
            Change::Backup { service, bucket, use_iam } => {
                iam(self.dokku(&["postgres:backup", service, bucket]), use_iam)
            }
            Change::BackupSchedule { service, when, bucket, use_iam } => {
                iam(self.dokku(&["postgres:backup-schedule", service, when, bucket]), use_iam)
            }
            Change::BackupPublicKey { service, key_id } => {
                self.dokku(&["postgres:backup-set-public-key-encryption", service, key_id])
            }
            Change::BackupUnschedule(service) => self.dokku(&["postgres:backup-unschedule", service]),
        }
    }
}
