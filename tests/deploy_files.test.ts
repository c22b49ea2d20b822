// The deployment files under deploy/ (no cluster ran them here): parsed and checked against
// the mpi-operator v2beta1 schema's fields, Slurm's directives, the image build files, and
// the CLI's own option definitions (every `gradia-dist train` flag in them must exist and
// its value must pass the flag's parser).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DATA_OPTIONS, RUNTIME_OPTIONS, TRAIN_OPTIONS, type OptionDef } from '../src/config/run_spec.js';
import { repoRoot } from '../src/util/paths.js';

const deploy = (...p: string[]): string => path.join(repoRoot, 'deploy', ...p);
const read = (...p: string[]): string => fs.readFileSync(deploy(...p), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; optionalDependencies: Record<string, string> };

const TRAIN_FLAGS = new Map<string, OptionDef<unknown>>();
for (const group of [RUNTIME_OPTIONS, DATA_OPTIONS, TRAIN_OPTIONS] as Record<string, OptionDef<unknown>>[]) {
  for (const def of Object.values(group)) TRAIN_FLAGS.set(def.flag.split(' ')[0]!, def);
}

/** Checks `gradia-dist train <args>` against the run spec; returns the flags it set. */
function checkTrainArgs(args: string[]): Record<string, string | true> {
  expect(args.slice(0, 2)).toEqual(['gradia-dist', 'train']);
  const set: Record<string, string | true> = {};
  for (let i = 2; i < args.length; i++) {
    const flag = args[i]!;
    const def = TRAIN_FLAGS.get(flag);
    if (!def) throw new Error(`unknown train flag ${flag} in ${args.join(' ')}`);
    if (def.flag.includes('<')) {
      const value = args[++i];
      if (value === undefined) throw new Error(`${flag} has no value`);
      if (def.choices) expect(def.choices, flag).toContain(value);
      def.parse?.(value); // throws on a bad value
      set[flag] = value;
    } else {
      set[flag] = true;
    }
  }
  return set;
}

/** mpirun's `-np N` and what follows its options (the program and its arguments). */
function splitMpirun(args: string[]): { np: number; program: string[] } {
  const i = args.indexOf('-np');
  expect(i, 'mpirun has -np').toBeGreaterThanOrEqual(0);
  const start = args.indexOf('gradia-dist');
  expect(start, 'mpirun runs gradia-dist').toBeGreaterThan(i);
  return { np: Number(args[i + 1]), program: args.slice(start) };
}

interface Container { name: string; image: string; command?: string[]; args?: string[]; resources?: { limits?: Record<string, unknown> }; volumeMounts?: { name: string; mountPath: string }[] }
interface ReplicaSpec { replicas: number; restartPolicy?: string; template: { spec: { containers: Container[]; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] } } }
interface MpiJob { apiVersion: string; kind: string; metadata: { name: string }; spec: { slotsPerWorker: number; sshAuthMountPath?: string; runPolicy?: { cleanPodPolicy?: string }; mpiReplicaSpecs: Record<string, ReplicaSpec> } }

/** The tag a Dockerfile's header says to build it with (`docker build -f <file> -t <tag> .`). */
function builtTag(dockerfile: string): string {
  const m = new RegExp(`docker build -f deploy/image/${dockerfile.replace('.', '\\.')} -t (\\S+) \\.`).exec(read('image', dockerfile));
  if (!m) throw new Error(`deploy/image/${dockerfile}: no "docker build -f ... -t TAG ." line`);
  return m[1]!;
}

describe('Kubernetes MPIJob manifests (mpi-operator v2beta1)', () => {
  for (const [file, flavour] of [['mpijob-cpu.yaml', 'cpu'], ['mpijob-gpu.yaml', 'gpu']] as const) {
    it(`${file}: schema fields, -np = workers x slots, the train command, one image`, () => {
      const docs = YAML.parseAllDocuments(read('k8s', file));
      expect(docs).toHaveLength(1);
      expect(docs[0]!.errors).toEqual([]);
      const job = docs[0]!.toJS() as MpiJob;
      expect(job.apiVersion).toBe('kubeflow.org/v2beta1');
      expect(job.kind).toBe('MPIJob');
      expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/); // a DNS-1123 name
      // v2beta1's MPIJobSpec fields only (types.go): no v1 leftovers such as spec.replicas
      const allowed = ['slotsPerWorker', 'runPolicy', 'mpiReplicaSpecs', 'sshAuthMountPath', 'waitForWorkers', 'mpiImplementation'];
      expect(Object.keys(job.spec).filter((k) => !allowed.includes(k))).toEqual([]);
      expect(Object.keys(job.spec.mpiReplicaSpecs).sort()).toEqual(['Launcher', 'Worker']);
      expect(['All', 'Running', 'None']).toContain(job.spec.runPolicy?.cleanPodPolicy);
      const { Launcher: launcher, Worker: worker } = job.spec.mpiReplicaSpecs as { Launcher: ReplicaSpec; Worker: ReplicaSpec };
      expect(launcher.replicas).toBe(1);
      expect(Number.isInteger(job.spec.slotsPerWorker) && job.spec.slotsPerWorker >= 1).toBe(true);
      expect(Number.isInteger(worker.replicas) && worker.replicas >= 2).toBe(true);

      const l = launcher.template.spec.containers[0]!;
      expect(l.command).toEqual(['mpirun']);
      const { np, program } = splitMpirun(l.args!);
      expect(np).toBe(worker.replicas * job.spec.slotsPerWorker);
      const flags = checkTrainArgs(program);
      expect(flags['--phase']).toBe('2');
      expect(flags['--model-dir']).toBeDefined();
      expect(flags['--data-dir']).toBeDefined();

      // workers: sshd on the config the image installs, the keys where the operator mounts them
      const w = worker.template.spec.containers[0]!;
      expect(w.command).toEqual(['/usr/sbin/sshd']);
      const sshdConfig = w.args![w.args!.indexOf('-f') + 1]!;
      const dockerfile = read('image', `Dockerfile.${flavour}`);
      expect(dockerfile).toContain(`deploy/image/sshd_config ${sshdConfig}`);
      expect(read('image', 'sshd_config')).toContain(`HostKey ${job.spec.sshAuthMountPath}/id_rsa`);
      // data and model dir from volumes every worker mounts
      const mounts = new Map((w.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
      const volumes = new Set((worker.template.spec.volumes ?? []).map((v) => v.name));
      for (const dir of [flags['--data-dir'] as string, flags['--model-dir'] as string]) {
        const mount = [...mounts.keys()].find((m) => dir === m || dir.startsWith(`${m}/`));
        expect(mount, `${dir} is on a mounted volume`).toBeDefined();
        expect(volumes.has(mounts.get(mount!)!)).toBe(true);
      }

      // one image, the one its Dockerfile builds, named after the package version
      const tag = builtTag(`Dockerfile.${flavour}`);
      expect(tag).toBe(`gradia-dist:${pkg.version}-${flavour}`);
      expect(l.image).toBe(tag);
      expect(w.image).toBe(tag);
      if (flavour === 'gpu') expect(w.resources?.limits?.['nvidia.com/gpu']).toBe(job.spec.slotsPerWorker);
      else expect(w.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    });
  }
});

describe('Slurm batch script', () => {
  const text = read('slurm', 'gradia-phase2.sbatch');
  const directives = new Map(
    [...text.matchAll(/^#SBATCH\s+--([a-z-]+)(?:=(\S+))?/gm)].map((m) => [m[1]!, m[2] ?? ''] as [string, string]),
  );

  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', deploy('slurm', 'gradia-phase2.sbatch')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('asks for one task per GPU and runs gradia-dist train under srun --mpi=pmix', () => {
    const nodes = Number(directives.get('nodes'));
    const ntasks = Number(directives.get('ntasks'));
    const perNode = Number(directives.get('ntasks-per-node'));
    const gpusPerNode = Number(directives.get('gpus-per-node'));
    expect(nodes).toBeGreaterThanOrEqual(2);
    expect(ntasks).toBe(nodes * perNode);
    expect(gpusPerNode).toBe(perNode);
    // the srun line (with its continuation lines), variables in place of their defaults
    const srun = /^srun ((?:.*\\\n)*.*)$/m.exec(text)?.[1];
    expect(srun).toBeDefined();
    const words = srun!.replace(/\\\n/g, ' ').trim().split(/\s+/);
    expect(words).toContain('--mpi=pmix');
    const program = words.slice(words.indexOf('gradia-dist')).filter((w) => w !== '"${RESUME[@]}"');
    const vars: Record<string, string> = { '"$DATA_DIR"': '/d', '"$MODEL_DIR"': '/m', '"$MODEL_NAME"': 'model_out' };
    const flags = checkTrainArgs(program.map((w) => vars[w] ?? w));
    expect(flags['--phase']).toBe('2');
  });

  it('resumes from the checkpoint name phase 2 writes', () => {
    expect(text).toMatch(/_p2_last\.json/);
    expect(text).toContain('RESUME=(--resume)');
  });
});

describe('image build files', () => {
  it('GPU image: CUDA 11.x with cuDNN 8, tfjs-node-gpu, libtensorflow from TFJS_NODE_BASE_URI when given', () => {
    const d = read('image', 'Dockerfile.gpu');
    const base = /^ARG CUDA_IMAGE=(\S+)$/m.exec(d)?.[1];
    expect(base).toMatch(/^nvidia\/cuda:11\.\d+\.\d+-cudnn8-/);
    expect(d).toMatch(/^ARG TFJS_NODE_BASE_URI=$/m);
    expect(d).toMatch(/TFJS_NODE_BASE_URI="\$TFJS_NODE_BASE_URI" npm install/);
    expect(d).toContain('node_modules/@tensorflow/tfjs-node-gpu');
    expect(pkg.optionalDependencies['@tensorflow/tfjs-node-gpu']).toBeDefined();
    // the MPI addon must have been built in the image
    expect(d).toContain('native/mpi/build/Release/gradia_mpi.node');
  });

  it('CPU image: both addons built, Open MPI and sshd at run time, no tfjs-node-gpu', () => {
    const d = read('image', 'Dockerfile.cpu');
    expect(d).toContain('npm ci --omit=optional');
    expect(d).toContain('native/build/Release/gradia_onednn.node');
    expect(d).toContain('native/mpi/build/Release/gradia_mpi.node');
    expect(d).toMatch(/apt-get install[^\n]*libopenmpi3[^\n]*openssh-server/);
  });

  it('ssh: the workers listen where the launcher connects', () => {
    const port = /^Port (\d+)$/m.exec(read('image', 'sshd_config'))?.[1];
    expect(port).toBeDefined();
    expect(read('image', 'ssh_config')).toMatch(new RegExp(`^\\s+Port ${port}$`, 'm'));
  });
});

describe('hostfile example', () => {
  it('has host slots=N lines whose slots add up to the -np of its own example command', () => {
    const text = read('hostfile.example');
    const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    let slots = 0;
    for (const l of lines) {
      const m = /^(\S+) slots=(\d+)$/.exec(l);
      expect(m, l).not.toBeNull();
      slots += Number(m![2]);
    }
    const np = Number(/mpirun -np (\d+) --hostfile deploy\/hostfile\.example/.exec(text)?.[1]);
    expect(np).toBe(slots);
  });
});

describe('README', () => {
  it('documents every deployment file and says no cluster ran them', () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    for (const f of ['deploy/hostfile.example', 'deploy/slurm/gradia-phase2.sbatch', 'deploy/k8s/mpijob-cpu.yaml', 'deploy/k8s/mpijob-gpu.yaml', 'deploy/image/Dockerfile.cpu', 'deploy/image/Dockerfile.gpu']) {
      expect(readme, f).toContain(f);
    }
    expect(readme).toMatch(/no cluster ran (them|these files) here/i);
  });
});
