"""pytorch/examples' ``dcgan/main.py`` on tinygan, its import lines swapped: what the script
does, restated in our own words at a small size (ngf = ndf = 4, batch 4), on tinygan and,
where torch is installed, on PyTorch (torchvision is not installed: its parts run on tinygan
only).

The script itself (run by hand from its public copy; README, "Running the course's
notebooks") takes ``--dataset mnist --dataroot DIR --dry-run`` and ``--dataset fake``.
"""
import numpy as np
import pytest

import tinygan as tg
import tinygan.vision.datasets as dset
import tinygan.vision.transforms as transforms
import tinygan.vision.utils as vutils


def test_its_import_lines_and_settings(monkeypatch):
    import tinygan.backends.cudnn as cudnn
    import tinygan.nn.parallel      # noqa: F401
    import tinygan.utils.data       # noqa: F401
    monkeypatch.setattr(cudnn, "benchmark", True)   # the script's line; it changes nothing here
    assert tg.utils.data.DataLoader is tinygan.utils.data.DataLoader
    assert tg.nn.parallel.data_parallel is not None


def test_the_device_it_chooses(torch):
    # `--accel` asks torch.accelerator for a device; without one the script takes the CPU
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if torch.accelerator.is_available():         # tinygan's tests have a stand-in "cuda"
        assert accelerator == torch.device("cuda") and torch.accelerator.device_count() >= 1
        assert torch.zeros(1, device=accelerator).is_cuda
    else:
        assert accelerator is None and torch.accelerator.device_count() == 0
    x = torch.zeros(2, 3, device=torch.device("cpu"))
    assert (x.is_cuda or x.is_xpu) is False and x.is_cpu


def test_equal_as_torch(torch):
    assert torch.equal(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))
    assert not torch.equal(torch.tensor([1, 2]), torch.tensor([[1, 2]]))
    assert not torch.equal(torch.tensor([float("nan")]), torch.tensor([float("nan")]))
    assert torch.tensor([1, 2]).equal(torch.tensor([1, 2]))
    with pytest.raises(TypeError):
        torch.equal(torch.tensor([1]), [1])


def test_shapes_are_tuples_with_numel(torch):
    shape = torch.zeros(2, 3, 4).shape
    assert isinstance(shape, tuple) and shape == (2, 3, 4) and shape.numel() == 24
    assert isinstance(shape[1:], torch.Size) and shape[1:] == (3, 4)
    assert isinstance(shape + (5,), torch.Size) and shape + (5,) == (2, 3, 4, 5)
    assert torch.zeros(shape).shape == shape and torch.zeros(2, 3).size() == (2, 3)
    assert torch.Size([2, 3]) == (2, 3) and torch.Size().numel() == 1
    assert len({shape, (2, 3, 4)}) == 1


def test_size_repr_and_errors():
    assert repr(tg.zeros(2, 3).shape) == "tinygan.Size([2, 3])"
    assert repr(tg.tensor(1.0).shape) == "tinygan.Size([])"
    with pytest.raises(TypeError, match="Size expects an iterable of ints"):
        tg.Size([2.5])


def test_mnist_resized_to_64_and_normalized(fake_mnist):
    dataset = dset.MNIST(root=str(fake_mnist), download=True,
                         transform=transforms.Compose([transforms.Resize(64),
                                                       transforms.ToTensor(),
                                                       transforms.Normalize((0.5,), (0.5,))]))
    image, label = dataset[0]
    assert image.shape == (1, 64, 64) and 0 <= label < 10
    assert -1 <= image.min().item() and image.max().item() <= 1
    loader = tg.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, num_workers=2)
    real_cpu = next(iter(loader))[0]
    assert real_cpu.shape == (16, 1, 64, 64) and real_cpu.size(0) == 16
    assert len(loader) == 4


def test_fake_data_is_random_and_the_same_each_read():
    dataset = dset.FakeData(size=10, image_size=(3, 64, 64), transform=transforms.ToTensor())
    image, label = dataset[3]
    assert image.shape == (3, 64, 64) and image.dtype == tg.float32 and 0 <= label < 10
    assert 0 <= image.min().item() and image.max().item() <= 1 and image.std().item() > 0.2
    again, label_again = dataset[3]
    assert tg.equal(image, again) and label == label_again
    assert not tg.equal(image, dataset[4][0])
    assert len(dataset) == 10 and dataset[-1][0].shape == (3, 64, 64)
    with pytest.raises(IndexError, match="index 10 out of range for size 10"):
        dataset[10]
    with pytest.raises(ValueError, match=r"image_size \(C, H, W\)"):
        dset.FakeData(image_size=(64, 64))
    batch = next(iter(tg.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)))
    assert batch[0].shape == (4, 3, 64, 64) and batch[1].dtype == tg.int64


def make_models(torch, nz=8, ngf=4, ndf=4, nc=1, ngpu=1):
    """The script's Generator and Discriminator (64x64 images), at a small width."""
    nn = torch.nn

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find('BatchNorm') != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    def up(i, o, stride, padding, last=False):
        conv = nn.ConvTranspose2d(i, o, 4, stride, padding, bias=False)
        return [conv, nn.Tanh()] if last else [conv, nn.BatchNorm2d(o), nn.ReLU(True)]

    def down(i, o, norm=True):
        layers = [nn.Conv2d(i, o, 4, 2, 1, bias=False)]
        return layers + ([nn.BatchNorm2d(o)] if norm else []) + [nn.LeakyReLU(0.2, inplace=True)]

    class Net(nn.Module):
        def __init__(self, *layers, flatten):
            super().__init__()
            self.ngpu, self.flatten = ngpu, flatten
            self.main = nn.Sequential(*layers)

        def forward(self, input):
            if (input.is_cuda or input.is_xpu) and self.ngpu > 1:
                output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            else:
                output = self.main(input)
            return output.view(-1, 1).squeeze(1) if self.flatten else output

    netG = Net(*up(nz, ngf * 8, 1, 0), *up(ngf * 8, ngf * 4, 2, 1), *up(ngf * 4, ngf * 2, 2, 1),
               *up(ngf * 2, ngf, 2, 1), *up(ngf, nc, 2, 1, last=True), flatten=False)
    netD = Net(*down(nc, ndf, norm=False), *down(ndf, ndf * 2), *down(ndf * 2, ndf * 4),
               *down(ndf * 4, ndf * 8), nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
               nn.Sigmoid(), flatten=True)
    netG.apply(weights_init)
    netD.apply(weights_init)
    return netG, netD


def test_weights_init_through_apply(torch):
    netG, netD = make_models(torch)
    conv_weights = [m.weight for m in netD.modules() if type(m).__name__ == "Conv2d"]
    norms = [m for m in netG.modules() if type(m).__name__ == "BatchNorm2d"]
    assert len(conv_weights) == 5 and len(norms) == 4
    assert abs(torch.cat([w.flatten() for w in conv_weights]).std().item() - 0.02) < 0.005
    assert all(torch.all(m.bias == 0).item() for m in norms)
    assert all(abs(m.weight.mean().item() - 1) < 0.05 for m in norms)


def test_one_training_cycle(torch):
    netG, netD = make_models(torch)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    criterion = torch.nn.BCELoss()
    real_cpu = torch.rand(4, 1, 64, 64) * 2 - 1
    batch_size = real_cpu.size(0)

    netD.zero_grad()
    label = torch.full((batch_size,), 1, dtype=real_cpu.dtype, device=torch.device("cpu"))
    output = netD(real_cpu)
    assert output.shape == (batch_size,)
    errD_real = criterion(output, label)
    errD_real.backward()
    noise = torch.randn(batch_size, 8, 1, 1)
    fake = netG(noise)
    assert fake.shape == (batch_size, 1, 64, 64)
    label.fill_(0)
    output = netD(fake.detach())
    errD_fake = criterion(output, label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    before = [p.detach().clone() for p in netD.parameters()]
    optimizerD.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, netD.parameters()))

    netG.zero_grad()
    label.fill_(1)
    output = netD(fake)
    errG = criterion(output, label)
    errG.backward()
    assert all(p.grad is not None for p in netG.parameters())
    optimizerG.step()
    line = ('[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f'
            % (0, 1, 0, 1, errD.item(), errG.item(), output.mean().item()))
    assert "nan" not in line and 0 < errD.item() and 0 < errG.item()


def test_its_checkpoints_and_pictures(tmp_path):
    netG, netD = make_models(tg)
    path = tmp_path / "netG_epoch_0.pth"
    tg.save(netG.state_dict(), str(path))
    fresh, _ = make_models(tg)
    fresh.load_state_dict(tg.load(str(path)))      # the script's --netG
    for (name, a), b in zip(netG.state_dict().items(), fresh.state_dict().values()):
        assert np.array_equal(a, b), name          # tinygan's state_dict holds host arrays
    fake = netG(tg.randn(16, 8, 1, 1))
    vutils.save_image(fake.detach(), str(tmp_path / "fake_samples_epoch_000.png"),
                      normalize=True)
    png = (tmp_path / "fake_samples_epoch_000.png").read_bytes()
    width, height = np.frombuffer(png[16:24], dtype=">u4")
    assert (width, height) == (8 * 66 + 2, 2 * 66 + 2)      # 8 per row, 2 px of padding
