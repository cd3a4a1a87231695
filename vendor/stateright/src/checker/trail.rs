//! warmcheck's patch (see vendor/README.md in warmcheck): the path of a pending job.

use std::sync::Arc;

// A job's path is a shared linked list of action indices (each job holds its
// last step and shares the steps before it with its siblings) instead of a `Vec` copied into
// every successor, whose cost grew with the depth.
#[derive(Clone)]
pub(crate) struct Trail(Option<Arc<TrailStep>>);

struct TrailStep {
    index: usize,
    before: Trail,
}

impl Trail {
    pub(crate) fn start(index: usize) -> Self {
        Trail(None).then(index)
    }

    pub(crate) fn then(&self, index: usize) -> Self {
        Trail(Some(Arc::new(TrailStep {
            index,
            before: self.clone(),
        })))
    }

    /// The action indices from the init state's index on.
    pub(crate) fn indices(&self) -> Vec<usize> {
        let mut indices = Vec::new();
        let mut at = &self.0;
        while let Some(step) = at {
            indices.push(step.index);
            at = &step.before.0;
        }
        indices.reverse();
        indices
    }
}

impl Drop for Trail {
    // Iterative, so that dropping a long trail does not recurse once per step.
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(step) = next {
            match Arc::try_unwrap(step) {
                Ok(mut step) => next = step.before.0.take(),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_trail_lists_its_steps_and_drops_a_million_without_recursing() {
        let mut trail = Trail::start(7);
        let sibling = trail.then(1);
        for i in 0..1_000_000 {
            trail = trail.then(i % 5);
        }
        let indices = trail.indices();
        assert_eq!(indices.len(), 1_000_001);
        assert_eq!(&indices[..3], &[7, 0, 1]);
        assert_eq!(indices.last(), Some(&(999_999 % 5)));
        // A recursive drop would overflow the test thread's stack here.
        drop(trail);
        // The shared first step outlives the trail that was dropped.
        assert_eq!(sibling.indices(), vec![7, 1]);
    }
}
