"""Small image classifiers for the Horovod-style examples, for machines without torchvision.

`get(name, num_classes)` returns torchvision's model of that name when torchvision is there,
else one of these: `small_cnn` (two conv layers) and `small_resnet` (three residual blocks).
Both take 3-channel images of any size (adaptive pooling before the classifier).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class _Block(nn.Module):
    def __init__(self, channels, stride):
        super().__init__()
        out = channels * stride
        self.conv1 = nn.Conv2d(channels, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.skip = nn.Sequential()
        if stride != 1:
            self.skip = nn.Sequential(nn.Conv2d(channels, out, 1, stride, bias=False),
                                      nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class SmallResNet(nn.Module):
    def __init__(self, num_classes=1000, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(_Block(width, 1), _Block(width, 2), _Block(width * 2, 2))
        self.fc = nn.Linear(width * 4, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


_LOCAL = {"small_cnn": SmallCNN, "small_resnet": SmallResNet}


def get(name, num_classes=1000):
    if name in _LOCAL:
        return _LOCAL[name](num_classes=num_classes)
    try:
        from torchvision import models
    except ImportError:
        raise SystemExit("model %r needs torchvision, which is not installed; use one of %s"
                         % (name, ", ".join(sorted(_LOCAL))))
    return getattr(models, name)(num_classes=num_classes)


def fake_images(count, image_size, num_classes, generator=None):
    """Random images and labels, as the synthetic benchmarks use."""
    data = torch.randn(count, 3, image_size, image_size, generator=generator)
    target = torch.randint(0, num_classes, (count,), generator=generator)
    return data, target
