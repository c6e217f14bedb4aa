# Reference timings of the plif-csnn layers in PyTorch on the same GPU (fwd+bwd, sync per call, median of 20).
import sys, torch, time
torch.manual_seed(0)
dev = 'cuda'
def t(fn, reps=20):
    for _ in range(3): fn()
    torch.cuda.synchronize(); ts = []
    for _ in range(reps):
        s = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append(time.perf_counter() - s)
    ts.sort(); return ts[len(ts)//2] * 1e3
for n in (1024, 128):
    for tf32 in (False, True):
        for bench in (False, True):
            torch.backends.cudnn.allow_tf32 = tf32; torch.backends.cudnn.benchmark = bench
            for name, cin, hw in (("conv1", 1, 28), ("conv2", 128, 14)):
                x = torch.randn(n, cin, hw, hw, device=dev, requires_grad=(cin > 1))
                w = torch.randn(128, cin, 3, 3, device=dev, requires_grad=True)
                r = torch.randn(n, 128, hw, hw, device=dev)
                def f():
                    y = torch.nn.functional.conv2d(x, w, padding=1); y.backward(r)
                print(f"{name} N={n} tf32={tf32} benchmark={bench}: {t(f):.3f} ms")
    x = torch.randn(n, 128, 28, 28, device=dev, requires_grad=True)
    bn = torch.nn.BatchNorm2d(128).to(dev)
    r = torch.randn_like(x)
    print(f"batchnorm (N={n},128,28,28) fwd+bwd: {t(lambda: bn(x).backward(r)):.3f} ms")
    xs = (torch.rand(n, 128, 28, 28, device=dev) < 0.2).float().requires_grad_()
    r2 = torch.randn(n, 128, 14, 14, device=dev)
    print(f"maxpool2 (N={n},128,28,28) fwd+bwd: {t(lambda: torch.nn.functional.max_pool2d(xs, 2).backward(r2)):.3f} ms")
