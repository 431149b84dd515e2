//! An in-memory `Runtime` for unit tests of runner and sandbox logic: it keeps the labelled
//! resources it was asked to create and can be told to fail one operation.

use super::{ContainerSpec, ContainerState, Resources, Runtime, SandboxError};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
    /// `(operation, target substring)`: that call fails.
    pub fail: Mutex<Option<(&'static str, String)>>,
}

#[derive(Default)]
struct State {
    containers: HashMap<String, HashMap<String, String>>,
    networks: HashMap<String, HashMap<String, String>>,
    volumes: HashMap<String, HashMap<String, String>>,
    /// Images the engine has: by name, its id.
    images: HashMap<String, String>,
    pub calls: Vec<String>,
}

impl FakeRuntime {
    fn check(&self, op: &'static str, target: &str) -> Result<(), SandboxError> {
        self.state
            .lock()
            .unwrap()
            .calls
            .push(format!("{op} {target}"));
        match &*self.fail.lock().unwrap() {
            Some((o, t)) if *o == op && target.contains(t.as_str()) => Err(SandboxError::Docker {
                op,
                target: target.to_string(),
                source: "injected failure".into(),
            }),
            _ => Ok(()),
        }
    }

    /// The engine has `image` (as if built before).
    pub fn with_image(self, image: &str) -> Self {
        let id = format!("sha256:fake-{image}");
        self.state.lock().unwrap().images.insert(image.into(), id);
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn all(&self) -> Resources {
        let s = self.state.lock().unwrap();
        let mut r = Resources {
            containers: s.containers.keys().cloned().collect(),
            networks: s.networks.keys().cloned().collect(),
            volumes: s.volumes.keys().cloned().collect(),
        };
        r.containers.sort();
        r.networks.sort();
        r.volumes.sort();
        r
    }
}

fn matching(
    map: &HashMap<String, HashMap<String, String>>,
    label: &str,
    value: &str,
) -> Vec<String> {
    let mut v: Vec<String> = map
        .iter()
        .filter(|(_, labels)| labels.get(label).map(String::as_str) == Some(value))
        .map(|(k, _)| k.clone())
        .collect();
    v.sort();
    v
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn describe(&self) -> String {
        "fake".into()
    }
    async fn image_id(&self, image: &str) -> Result<Option<String>, SandboxError> {
        self.check("inspect image", image)?;
        Ok(self.state.lock().unwrap().images.get(image).cloned())
    }
    async fn pull_image(&self, image: &str) -> Result<(), SandboxError> {
        self.check("pull image", image)?;
        Err(SandboxError::Docker {
            op: "pull image",
            target: image.into(),
            source: "the fake engine reaches no registry".into(),
        })
    }
    async fn tag_image(&self, image: &str, also: &str) -> Result<(), SandboxError> {
        self.check("tag image", image)?;
        let mut s = self.state.lock().unwrap();
        let id = s.images.get(image).cloned().unwrap_or_default();
        s.images.insert(also.into(), id);
        Ok(())
    }
    async fn build_image(
        &self,
        image: &str,
        _context: Vec<u8>,
        _labels: &HashMap<&str, &str>,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<Option<String>, SandboxError> {
        self.check("build image", image)?;
        on_line("built by the fake engine");
        let id = format!("sha256:fake-{image}");
        self.state.lock().unwrap().images.insert(image.into(), id);
        Ok(None)
    }
    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError> {
        self.check("create network", name)?;
        self.state
            .lock()
            .unwrap()
            .networks
            .insert(name.into(), labels.clone());
        Ok(())
    }
    async fn create_volume(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), SandboxError> {
        self.check("create volume", name)?;
        self.state
            .lock()
            .unwrap()
            .volumes
            .insert(name.into(), labels.clone());
        Ok(())
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<(), SandboxError> {
        self.check("create container", &spec.name)?;
        self.state
            .lock()
            .unwrap()
            .containers
            .insert(spec.name.clone(), spec.labels.clone());
        Ok(())
    }
    async fn upload(
        &self,
        container: &str,
        _path: &str,
        _tar: Vec<u8>,
    ) -> Result<(), SandboxError> {
        self.check("upload", container)
    }
    async fn upload_file(
        &self,
        container: &str,
        _from: &std::path::Path,
        _to: &str,
        _mode: u32,
    ) -> Result<(), SandboxError> {
        self.check("upload", container)
    }
    fn shares_files(&self) -> bool {
        false
    }
    async fn start(&self, container: &str) -> Result<(), SandboxError> {
        self.check("start container", container)
    }
    async fn wait(&self, container: &str) -> Result<i64, SandboxError> {
        self.check("wait", container).map(|_| 0)
    }
    async fn logs(&self, container: &str) -> Result<(String, String), SandboxError> {
        self.check("logs", container).map(|_| Default::default())
    }
    async fn kill(&self, container: &str, _signal: &str) -> Result<(), SandboxError> {
        self.check("kill", container)
    }
    async fn state(&self, container: &str) -> Result<ContainerState, SandboxError> {
        self.check("state", container)
            .map(|_| ContainerState::Running)
    }
    async fn host_port(&self, container: &str, _port: u16) -> Result<u16, SandboxError> {
        self.check("host port", container).map(|_| 1)
    }
    async fn pause(&self, container: &str) -> Result<(), SandboxError> {
        self.check("pause", container)
    }
    async fn unpause(&self, container: &str) -> Result<(), SandboxError> {
        self.check("unpause", container)
    }
    async fn pid(&self, container: &str) -> Result<u32, SandboxError> {
        self.check("pid", container).map(|_| 1)
    }
    async fn ip(&self, container: &str, _network: &str) -> Result<String, SandboxError> {
        self.check("ip", container).map(|_| "10.0.0.1".into())
    }
    async fn download(&self, container: &str, _path: &str) -> Result<Vec<u8>, SandboxError> {
        self.check("download", container).map(|_| Vec::new())
    }
    fn download_stream(&self, container: &str, _path: &str) -> super::ByteStream {
        use futures_util::StreamExt;
        let checked = self.check("download", container);
        futures_util::stream::iter(checked.err().map(Err)).boxed()
    }
    async fn log_tail(&self, container: &str, _tail: usize) -> Result<String, SandboxError> {
        self.check("log tail", container).map(|_| String::new())
    }
    async fn remove_container(&self, container: &str) -> Result<(), SandboxError> {
        self.check("remove container", container)?;
        self.state.lock().unwrap().containers.remove(container);
        Ok(())
    }
    async fn remove_volume(&self, name: &str) -> Result<(), SandboxError> {
        self.check("remove volume", name)?;
        self.state.lock().unwrap().volumes.remove(name);
        Ok(())
    }
    async fn remove_network(&self, name: &str) -> Result<(), SandboxError> {
        self.check("remove network", name)?;
        self.state.lock().unwrap().networks.remove(name);
        Ok(())
    }
    async fn list_labelled(&self, label: &str, value: &str) -> Result<Resources, SandboxError> {
        let s = self.state.lock().unwrap();
        Ok(Resources {
            containers: matching(&s.containers, label, value),
            networks: matching(&s.networks, label, value),
            volumes: matching(&s.volumes, label, value),
        })
    }
}
